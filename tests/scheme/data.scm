;;; data.scm — SRFI-64 suite of (notellm data): the synthetic benchmark
;;; written and read back with zero problems, note lookup, prompts (the
;;; paper's Chinese template byte-exact, read-out and image positions), pair
;;; loaders, and bad data directories.
(use-modules (ice-9 textual-ports) (srfi srfi-1) (srfi srfi-64) (notellm))

(define tmp (mkdtemp (string-copy "/tmp/nl-data-XXXXXX")))
(define dir (string-append tmp "/notes"))

(define (error-key thunk)
  "The key thrown by THUNK, or 'no-error."
  (catch #t (lambda () (thunk) 'no-error) (lambda (key . args) key)))

(test-begin "data")

(define counts (generate-notes dir #:items 40 #:seed 3 #:image-size 32))
(define ds (load-notes dir))
(define tok (train-tokenizer (list (string-append dir "/notes_train.csv")) (string-append tmp "/tok.json")
                             #:vocab-size 700))
(tokenizer-add-tokens! tok '("[PAD]") #:special #t)
(tokenizer-add-tokens! tok '("<IMG>" "<IMG_EMB>" "<TEXT_EMB>" "</s>"))

(test-group "generate and load"
  (let ((r (notes-report ds)))
    (test-equal (+ (assq-ref counts 'notes-train) (assq-ref counts 'notes-test)) (notes-count ds))
    (test-equal 0 (assq-ref r 'pairs-skipped))
    (test-equal 0 (assq-ref r 'images-missing))
    (test-equal 0 (assq-ref r 'rows-skipped))
    (test-assert (member "test_imagelinked" (note-pairs ds)))
    (test-equal (assq-ref counts 'pairs-train) (length (note-pairs ds "train"))))
  (let ((n (note-ref ds 0)))
    (test-equal n (note-ref ds (assq-ref n 'id)))
    (test-eq 'train (assq-ref n 'split))
    (test-assert (<= (string-length (assq-ref n 'p-title)) 20))
    (test-assert (<= (string-length (assq-ref n 'p-content)) 80))
    (test-assert (string-suffix? "。" (assq-ref n 'p-category))))
  (test-equal #f (note-ref ds "no-such-note"))
  ;; the same seed gives the same data
  (generate-notes (string-append tmp "/again") #:items 40 #:seed 3 #:image-size 32)
  (test-equal (call-with-input-file (string-append dir "/notes_train.csv") get-string-all)
              (call-with-input-file (string-append tmp "/again/notes_train.csv") get-string-all))
  (test-eq 'notellm-io-error (error-key (lambda () (generate-notes dir #:items 40)))))

(test-group "prompts"
  (let* ((n (note-ref ds 0))
         (p (build-prompt ds tok 0 #:method 'notellm)))
    ;; the paper code's inference prompt, byte-exact (method §3.1, §3.9)
    (test-equal (string-append "笔记：{\"标题\":\"" (assq-ref n 'p-title) "\",\"话题\":\"" (assq-ref n 'p-topic)
                               "\",\"内容\":\"" (assq-ref n 'p-content) "\"}，压缩为一个词：“")
                (prompt-text p))
    (test-equal (- (length (prompt-ids p)) 1) (prompt-text-readout p))
    (test-equal -1 (prompt-image-slot p)))
  (let ((p (build-prompt ds tok 0 #:method 'notellm2 #:micl #t)))
    (test-assert (string-prefix? "笔记：{\"图片\":\"<IMG>\"}，压缩为一个词：“<IMG_EMB>”。笔记：" (prompt-text p)))
    (test-equal (token->id tok "<IMG>") (list-ref (prompt-ids p) (prompt-image-slot p)))
    (test-equal (token->id tok "<IMG_EMB>") (list-ref (prompt-ids p) (+ 1 (prompt-visual-readout p)))))
  (let ((p (build-prompt ds tok 0 #:kind 'category #:lang 'zh)))
    (test-equal (token->id tok "<TEXT_EMB>") (list-ref (prompt-ids p) (+ 1 (prompt-text-readout p))))
    (test-assert (string-suffix? "。</s>" (prompt-text p)))
    (test-assert (string-contains (object->string p) "text read-out: token")))
  (test-eq 'notellm-error (error-key (lambda () (build-prompt ds tok 0 #:lang 'fr)))))

(test-group "pair loader"
  (let* ((l (make-pair-loader ds tok #:batch 4 #:seed 9 #:kind 'micl #:lang 'en))
         (b (pair-loader-next! l))
         (ids (assq-ref b 'ids))
         (notes (tensor->list (assq-ref b 'note-index))))
    (test-equal 8 (car (tensor-shape ids)))
    (test-equal (length notes) (length (delete-duplicates notes)))
    (test-equal (tensor-shape ids) (tensor-shape (assq-ref b 'mask)))
    (test-assert (every (lambda (s) (>= s 0)) (tensor->list (assq-ref b 'image-slot)))))
  (test-eq 'notellm-error (error-key (lambda () (make-pair-loader ds tok #:pairs "nope")))))

(test-group "bad data"
  (mkdir (string-append tmp "/bad"))
  (call-with-output-file (string-append tmp "/bad/notes_train.csv")
    (lambda (p) (display "n1,title,\"unterminated\n" p)))
  (test-eq 'notellm-format-error (error-key (lambda () (load-notes (string-append tmp "/bad")))))
  (test-eq 'notellm-io-error (error-key (lambda () (load-notes (string-append tmp "/none"))))))

(system* "rm" "-rf" tmp)
(test-end "data")
