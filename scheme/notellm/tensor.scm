;;; tensor.scm — (notellm tensor): the user API over the %nl- primitives:
;;; construction, conversion, views, every op of runtime/ops.h with keyword
;;; defaults, autograd, explicit lifetime (tensor-free!, with-tensor),
;;; runtime knobs and the printed form. Depends on (notellm primitives) only;
;;; models, training loops and the REPL live elsewhere.
(define-module (notellm tensor)
  #:use-module ((oop goops) #:select (define-method))
  #:use-module (ice-9 format)
  #:use-module (srfi srfi-4)
  #:use-module (notellm primitives)
  #:re-export (<tensor>)
  #:export (;; construction and conversion
            tensor zeros ones full zeros-like ones-like rand randn arange
            bytevector->tensor f32vector->tensor
            tensor->list tensor->bytevector tensor->f32vector tensor-item tensor-ref
            tensor->string
            ;; properties
            tensor? tensor-shape tensor-strides tensor-dtype tensor-device tensor-ndim
            tensor-numel tensor-contiguous?
            ;; lifetime
            tensor-free! tensor-freed? call-with-tensor with-tensor
            ;; copies and views
            tensor-to tensor-contiguous tensor-clone tensor-detach tensor-reshape
            tensor-permute tensor-transpose tensor-narrow tensor-expand tensor-split
            tensor-squeeze tensor-unsqueeze tensor-copy! tensor-fill!
            ;; elementwise
            tensor-add tensor-sub tensor-mul tensor-div tensor-scale
            tensor-exp tensor-log tensor-sqrt tensor-rsqrt tensor-tanh tensor-sigmoid
            tensor-relu tensor-silu tensor-gelu tensor-gelu-tanh tensor-quick-gelu tensor-swiglu
            tensor-where tensor-masked-fill tensor-dropout
            ;; reductions
            tensor-sum tensor-mean tensor-max tensor-argmax
            ;; linear algebra, softmax, indexing, normalisation, attention, loss
            tensor-matmul tensor-linear tensor-softmax tensor-log-softmax
            tensor-embedding tensor-index-select tensor-concat
            tensor-rmsnorm tensor-layernorm tensor-rope tensor-l2-normalize
            tensor-attention tensor-cross-entropy
            ;; autograd
            tensor-requires-grad? set-tensor-requires-grad! tensor-grad
            tensor-backward! tensor-zero-grad! tensor-retain-grad!
            grad-enabled? call-with-no-grad with-no-grad
            ;; runtime knobs
            set-threads! threads set-seed! memory-stats reset-peak-memory! profile-kernels kernel-profile
            cuda-available? cuda-device-count notellm-version
            default-device set-default-device! synchronize))

;;; ---- construction ---------------------------------------------------------

(define %default-device 'cpu)

(define (default-device)
  "The device constructors use when #:device is not given: 'cpu unless
set-default-device! (or `notellm --device DEV`) changed it."
  %default-device)

(define (set-default-device! dev)
  "Make DEV (a symbol or string: cpu, cuda, cuda:N) the default device of the
constructors. The device is checked when a tensor is first made on it."
  (set! %default-device (if (string? dev) (string->symbol dev) dev)))

(define (finish t requires-grad)
  (when requires-grad (%nl-set-tensor-requires-grad! t #t))
  t)

(define* (tensor data #:key (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor from DATA, a number (0-d tensor) or a nested list of numbers
(booleans count as 1 and 0). The nesting gives the shape; ragged lists raise
notellm-shape-error. DTYPE is one of 'f32 'bf16 'f16 'i32 'i64 'u8 (default
'f32, also for exact integers); DEVICE is 'cpu, 'cuda or 'cuda:N.
Example: (tensor '((1 2 3) (4 5 6))) is an f32[2 3] tensor."
  (finish (%nl-tensor-from-list data dtype device) requires-grad))

(define* (full shape value #:key (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor of SHAPE (a list of sizes, or one size) with every element
VALUE."
  (finish (%nl-tensor-full shape value dtype device "full") requires-grad))

(define* (zeros shape #:key (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor of SHAPE (a list of sizes, or one size) filled with 0."
  (finish (%nl-tensor-full shape 0 dtype device "zeros") requires-grad))

(define* (ones shape #:key (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor of SHAPE (a list of sizes, or one size) filled with 1."
  (finish (%nl-tensor-full shape 1 dtype device "ones") requires-grad))

(define* (zeros-like t #:key (dtype (tensor-dtype t)) (device (tensor-device t)))
  "A tensor of zeros with the shape of T (and its dtype and device unless given)."
  (full (tensor-shape t) 0 #:dtype dtype #:device device))

(define* (ones-like t #:key (dtype (tensor-dtype t)) (device (tensor-device t)))
  "A tensor of ones with the shape of T (and its dtype and device unless given)."
  (full (tensor-shape t) 1 #:dtype dtype #:device device))

(define* (rand shape #:key (low 0.0) (high 1.0) (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor of SHAPE with uniform values in [LOW, HIGH) from the global
seeded generator (see set-seed!). The values do not depend on the device or the
thread count."
  (finish (%nl-tensor-random 'uniform shape low high dtype device) requires-grad))

(define* (randn shape #:key (mean 0.0) (std 1.0) (dtype 'f32) (device (default-device)) (requires-grad #f))
  "Make a tensor of SHAPE with normal values (MEAN, STD) from the global
seeded generator (see set-seed!)."
  (finish (%nl-tensor-random 'normal shape mean std dtype device) requires-grad))

(define* (arange start-or-end #:optional end (step 1) #:key dtype (device (default-device)))
  "(arange END) or (arange START END [STEP]): the 1-d tensor START, START+STEP,
... up to but excluding END. DTYPE defaults to 'i64 when all the numbers are
exact integers (like torch.arange), else 'f32."
  (let ((start (if end start-or-end 0))
        (end (or end start-or-end)))
    (%nl-tensor-arange start end step
                       (or dtype (if (and (exact-integer? start) (exact-integer? end)
                                          (exact-integer? step))
                                     'i64
                                     'f32))
                       device)))

(define* (bytevector->tensor bv #:optional (shape #f) #:key (dtype 'f32) (device (default-device)))
  "Make a tensor whose elements are the bytes of BV read as DTYPE in native
byte order. SHAPE defaults to 1-d; a length that does not match SHAPE raises
notellm-shape-error."
  (%nl-bytes->tensor bv dtype shape dtype device))

(define* (f32vector->tensor v #:optional (shape #f) #:key (dtype 'f32) (device (default-device)))
  "Make a tensor of SHAPE (default: 1-d) from the SRFI-4 f32vector V,
converted to DTYPE."
  (unless (f32vector? v)
    (scm-error 'wrong-type-arg "f32vector->tensor" "Wrong type argument in position ~A (expecting f32vector): ~S"
               (list 1 v) (list v)))
  (%nl-bytes->tensor v 'f32 shape dtype device))

(define (tensor->list t)
  "The values of T as nested lists (a number for a 0-d tensor): inexact reals
for float dtypes, exact integers otherwise."
  (%nl-tensor->list t))

(define* (tensor->bytevector t #:optional (dtype #f))
  "A new bytevector with the elements of T in row-major order, as T's dtype
or converted to DTYPE, in native byte order."
  (%nl-tensor->bytevector t dtype))

(define (tensor->f32vector t)
  "A new SRFI-4 f32vector with the elements of T (converted to f32) in
row-major order."
  (%nl-tensor->f32vector t))

(define (tensor-item t)
  "The value of the one-element tensor T as a number; notellm-shape-error if T
has more than one element."
  (%nl-tensor-item t))

(define (tensor-ref t . indices)
  "The element of T at INDICES (one per dim; negative counts from the end).
An index outside its dim raises out-of-range."
  (apply %nl-tensor-ref t indices))

;;; ---- properties -------------------------------------------------------------

(define (tensor? obj)
  "#t if OBJ is a tensor (also one released by tensor-free!)."
  (%nl-tensor? obj))

(define (tensor-shape t)
  "The shape of T as a list of sizes (() for a 0-d tensor)."
  (%nl-tensor-shape t))

(define (tensor-strides t)
  "The strides of T in elements, one per dim."
  (%nl-tensor-strides t))

(define (tensor-dtype t)
  "The dtype of T: one of 'f32 'bf16 'f16 'i32 'i64 'u8."
  (%nl-tensor-dtype t))

(define (tensor-device t)
  "The device of T: 'cpu or 'cuda:N."
  (%nl-tensor-device t))

(define (tensor-ndim t)
  "The number of dims of T."
  (%nl-tensor-ndim t))

(define (tensor-numel t)
  "The number of elements of T."
  (%nl-tensor-numel t))

(define (tensor-contiguous? t)
  "#t if T's elements are laid out row-major without gaps."
  (%nl-tensor-contiguous? t))

;;; ---- lifetime ----------------------------------------------------------------

(define (tensor-free! t)
  "Release T's memory now instead of waiting for the garbage collector. Views
of T keep their storage alive. Using T afterwards raises notellm-error
\"the tensor was freed\"."
  (%nl-tensor-free! t))

(define (tensor-freed? t)
  "#t if T was released by tensor-free!."
  (%nl-tensor-freed? t))

(define (call-with-tensor t proc)
  "Call (PROC T) and free T when PROC returns or exits non-locally; returns
what PROC returns."
  (dynamic-wind (lambda () #t)
                (lambda () (proc t))
                (lambda () (tensor-free! t))))

(define-syntax with-tensor
  (syntax-rules ()
    "(with-tensor ((VAR EXPR) ...) BODY ...): bind each VAR to its tensor,
evaluate BODY and free the tensors on exit, even on an error."
    ((_ () body ...) (let () body ...))
    ((_ ((var expr) binding ...) body ...)
     (call-with-tensor expr (lambda (var) (with-tensor (binding ...) body ...))))))

;;; ---- copies and views -------------------------------------------------------------

(define* (tensor-to t #:key (dtype #f) (device #f))
  "T converted to DTYPE and/or moved to DEVICE (each defaults to T's own).
Returns T's values in a contiguous tensor; differentiable. A CUDA device in a
build without CUDA raises notellm-device-error."
  (%nl-tensor-to t dtype device))

(define (tensor-contiguous t)
  "T itself (a new handle) when contiguous, else a contiguous copy."
  (%nl-tensor-contiguous t))

(define (tensor-clone t)
  "A fresh contiguous copy of T (differentiable)."
  (%nl-tensor-clone t))

(define (tensor-detach t)
  "A tensor sharing T's storage without autograd history or requires-grad."
  (%nl-tensor-detach t))

(define (tensor-reshape t shape)
  "T with SHAPE (one size may be -1): a view sharing storage when the layout
allows, else a copy (PyTorch's rule). There is no separate view procedure."
  (%nl-tensor-reshape t shape))

(define (tensor-permute t perm)
  "A view of T with its dims reordered by the list PERM."
  (%nl-tensor-permute t perm))

(define* (tensor-transpose t #:optional (dim0 -2) (dim1 -1))
  "A view of T with DIM0 and DIM1 (default: the last two) swapped."
  (%nl-tensor-transpose t dim0 dim1))

(define (tensor-narrow t dim start len)
  "A view of elements [START, START+LEN) of T along DIM."
  (%nl-tensor-narrow t dim start len))

(define (tensor-expand t shape)
  "A view of T broadcast to SHAPE (size-1 dims grow; -1 keeps a dim)."
  (%nl-tensor-expand t shape))

(define* (tensor-split t size #:key (dim 0))
  "A list of views of T cut along DIM into pieces of SIZE elements (the last
piece may be shorter)."
  (%nl-tensor-split t size dim))

(define* (tensor-squeeze t #:optional (dim #f))
  "A view of T without the size-1 dim DIM, or without every size-1 dim when
DIM is not given."
  (if dim
      (%nl-tensor-squeeze t dim)
      (%nl-tensor-reshape t (filter (lambda (n) (not (= n 1))) (tensor-shape t)))))

(define (tensor-unsqueeze t dim)
  "A view of T with a new size-1 dim at DIM."
  (%nl-tensor-unsqueeze t dim))

(define (tensor-copy! dst src)
  "Copy the values of SRC (same shape, any dtype, device or layout) into DST
in place; returns DST. Not recorded by autograd."
  (%nl-tensor-copy! dst src))

(define (tensor-fill! t value)
  "Set every element of T (and so of the views sharing its storage) to VALUE
in place; returns T."
  (%nl-tensor-fill! t value))

;;; ---- elementwise ---------------------------------------------------------------

;; A tensor-number pair through nl_scale (s*x + b); number/tensor division
;; through a 0-d tensor that broadcasts.
(define (arith op a b)
  (cond
   ((and (tensor? a) (real? b))
    (case op
      ((add) (%nl-scale a 1 b))
      ((sub) (%nl-scale a 1 (- b)))
      ((mul) (%nl-scale a b 0))
      ((div) (%nl-scale a (/ 1.0 b) 0))))
   ((and (real? a) (tensor? b))
    (case op
      ((add) (%nl-scale b 1 a))
      ((sub) (%nl-scale b -1 a))
      ((mul) (%nl-scale b a 0))
      ((div) (%nl-binary 'div (full '() a #:dtype (tensor-dtype b) #:device (tensor-device b)) b))))
   (else (%nl-binary op a b))))

(define (tensor-add a b)
  "A + B elementwise with numpy broadcasting; either may be a number.
Incompatible shapes raise notellm-shape-error."
  (arith 'add a b))

(define (tensor-sub a b)
  "A - B elementwise with broadcasting; either may be a number."
  (arith 'sub a b))

(define (tensor-mul a b)
  "A * B elementwise with broadcasting; either may be a number."
  (arith 'mul a b))

(define (tensor-div a b)
  "A / B elementwise with broadcasting; either may be a number."
  (arith 'div a b))

(define* (tensor-scale x s #:optional (b 0))
  "S * X + B elementwise, for numbers S and B."
  (%nl-scale x s b))

(define (tensor-swiglu gate up)
  "silu(GATE) * UP elementwise in one pass (LLaMA's MLP), for tensors of the
same shape; the same values and gradients as tensor-silu then tensor-mul."
  (%nl-binary 'swiglu gate up))

(define-syntax-rule (define-unary name op doc)
  (define (name x) doc (%nl-unary 'op x)))

(define-unary tensor-exp exp "e^X elementwise.")
(define-unary tensor-log log "The natural logarithm of X elementwise.")
(define-unary tensor-sqrt sqrt "The square root of X elementwise.")
(define-unary tensor-rsqrt rsqrt "1 / sqrt(X) elementwise.")
(define-unary tensor-tanh tanh "tanh(X) elementwise.")
(define-unary tensor-sigmoid sigmoid "1 / (1 + e^-X) elementwise.")
(define-unary tensor-relu relu "max(X, 0) elementwise.")
(define-unary tensor-silu silu "X * sigmoid(X) elementwise (SiLU, swish).")
(define-unary tensor-gelu gelu "GELU of X elementwise, exact erf form.")
(define-unary tensor-gelu-tanh gelu-tanh "GELU of X elementwise, tanh approximation.")
(define-unary tensor-quick-gelu quick-gelu "X * sigmoid(1.702 X) elementwise (CLIP's quick GELU).")

(define (tensor-where cond a b)
  "Elements of A where the u8 tensor COND is non-zero, else of B (all three
broadcast)."
  (%nl-where cond a b))

(define (tensor-masked-fill x mask value)
  "X with VALUE (may be -inf) where the u8 tensor MASK (broadcast) is non-zero."
  (%nl-masked-fill x mask value))

(define* (tensor-dropout x #:key (p 0.5) (training #t))
  "Inverted dropout: when TRAINING, zero each element with probability P
(global generator) and scale the rest by 1/(1-P); otherwise, or when P is 0,
X itself. P outside [0, 1) raises notellm-error."
  (if (and training (not (eqv? p 0)) (not (eqv? p 0.0)))
      (%nl-dropout x p)
      x))

;;; ---- reductions ---------------------------------------------------------------------

(define* (tensor-sum x #:key (dim #f) (keepdim #f))
  "The sum of X over DIM (negative counts from the end), keeping it as size 1
if KEEPDIM; over all elements (a 0-d tensor) when DIM is not given."
  (%nl-reduce 'sum x dim keepdim))

(define* (tensor-mean x #:key (dim #f) (keepdim #f))
  "The mean of X over DIM, or over all elements when DIM is not given."
  (%nl-reduce 'mean x dim keepdim))

(define* (tensor-max x #:key (dim #f) (keepdim #f))
  "The maximum of X over DIM, or over all elements when DIM is not given."
  (%nl-reduce 'max x dim keepdim))

(define* (tensor-argmax x #:key (dim #f) (keepdim #f))
  "The i64 index of the maximum of X over DIM (the first one on ties), or the
index into the flattened X when DIM is not given."
  (%nl-reduce 'argmax x dim keepdim))

;;; ---- linear algebra and softmax ---------------------------------------------------

(define* (tensor-matmul a b #:key (trans-a #f) (trans-b #f))
  "The matrix product of A [..., M, K] and B [..., K, N] with broadcast batch
dims; TRANS-A / TRANS-B use the operand transposed. Mismatched inner dims
raise notellm-shape-error."
  (%nl-matmul a b trans-a trans-b))

(define* (tensor-linear x weight #:optional (bias #f))
  "X [..., IN] times WEIGHT [OUT, IN] transposed, plus BIAS [OUT] when given
(torch.nn.functional.linear)."
  (%nl-linear x weight bias))

(define* (tensor-softmax x #:key (dim -1))
  "Softmax of X over DIM (default: the last)."
  (%nl-softmax x dim #f))

(define* (tensor-log-softmax x #:key (dim -1))
  "Log-softmax of X over DIM (default: the last)."
  (%nl-softmax x dim #t))

;;; ---- indexing and concatenation ---------------------------------------------------

(define (tensor-embedding weight ids)
  "Rows of WEIGHT [V, C] picked by the integer tensor IDS [...]: [..., C]."
  (%nl-embedding weight ids))

(define (tensor-index-select x dim ids)
  "Slices of X along DIM picked by the 1-d integer tensor IDS."
  (%nl-index-select x dim ids))

(define* (tensor-concat xs #:key (dim 0))
  "The tensors of the list XS joined along DIM."
  (%nl-concat xs dim))

;;; ---- normalisation and position ---------------------------------------------------

(define* (tensor-rmsnorm x #:optional (weight #f) #:key (eps 1e-6))
  "RMS normalisation of X over its last dim, times WEIGHT [C] when given."
  (%nl-rmsnorm x weight eps))

(define* (tensor-layernorm x #:optional (weight #f) (bias #f) #:key (eps 1e-5))
  "Layer normalisation of X over its last dim, with WEIGHT and BIAS [C] when
given."
  (%nl-layernorm x weight bias eps))

(define* (tensor-rope x pos #:key (theta 10000.0) (rotary-dim 0))
  "HF rotate-half rotary embedding of X [B, NH, T, HS] at the i64 positions
POS [T] or [B, T]; ROTARY-DIM (even, 0 = HS) dims rotate with base THETA."
  (%nl-rope x pos theta rotary-dim))

(define* (tensor-l2-normalize x #:key (eps 1e-12))
  "X divided by its L2 norm over the last dim (at least EPS)."
  (%nl-l2-normalize x eps))

;;; ---- attention and loss ----------------------------------------------------------------

(define* (tensor-attention q k v #:key (causal #f) (scale #f) (mask #f) (return-probs #f))
  "Scaled dot-product attention of Q [B, NH, Tq, HS] over K, V [B, NKV, Tk, HS]
(grouped-query when NKV divides NH). CAUSAL masks future keys; SCALE defaults
to 1/sqrt(HS); MASK is a u8 [B, Tk] key mask (1 = keep) or an additive f32
[B|1, NH|1, Tq, Tk]. With RETURN-PROBS, returns two values: the output and the
probabilities [B, NH, Tq, Tk]."
  (let ((r (%nl-attention q k v causal scale mask return-probs)))
    (if return-probs
        (values (car r) (cadr r))
        (car r))))

(define* (tensor-cross-entropy logits targets #:key (ignore-index -100))
  "Mean cross-entropy of LOGITS [N, V] against integer TARGETS [N], skipping
rows whose target is IGNORE-INDEX; a 0-d tensor."
  (%nl-cross-entropy logits targets ignore-index))

;;; ---- autograd ------------------------------------------------------------------------------

(define (tensor-requires-grad? t)
  "#t if autograd records operations on T."
  (%nl-tensor-requires-grad? t))

(define* (set-tensor-requires-grad! t #:optional (flag #t))
  "Make the float leaf tensor T a parameter whose gradient backward computes
(or stop, with FLAG #f). Returns T."
  (%nl-set-tensor-requires-grad! t flag))

(define (tensor-grad t)
  "The gradient accumulated in T by tensor-backward!, or #f."
  (%nl-tensor-grad t))

(define* (tensor-backward! t #:key (gradient #f) (retain-graph #f))
  "Backpropagate from T, accumulating (+=) into the .grad of every leaf that
requires grad. T must have one element unless GRADIENT (same shape) is given.
The graph is released unless RETAIN-GRAPH."
  (%nl-tensor-backward! t gradient retain-graph))

(define (tensor-zero-grad! t)
  "Drop the gradient of T."
  (%nl-tensor-zero-grad! t))

(define (tensor-retain-grad! t)
  "Keep the gradient of the non-leaf T after backward. Returns T."
  (%nl-tensor-retain-grad! t))

(define (grad-enabled?)
  "#t when operations record autograd history (outside with-no-grad)."
  (%nl-grad-enabled?))

(define (call-with-no-grad thunk)
  "Call THUNK with autograd recording off, restoring the previous mode on exit."
  (let ((saved #t))
    (dynamic-wind (lambda () (set! saved (%nl-set-grad-enabled! #f)))
                  thunk
                  (lambda () (%nl-set-grad-enabled! saved)))))

(define-syntax-rule (with-no-grad body ...)
  "Evaluate BODY with autograd recording off (torch.no_grad)."
  (call-with-no-grad (lambda () body ...)))

;;; ---- runtime knobs ---------------------------------------------------------------------------

(define (set-threads! n)
  "Use N threads in the CPU kernels (default: NOTELLM_THREADS or all cores).
OpenBLAS always runs single-threaded; matrix products are split over these
threads."
  (%nl-set-threads! n))

(define* (profile-kernels thunk #:key (port (current-output-port)))
  "Call THUNK with the per-op kernel profiler on and return THUNK's value.
Prints to PORT (#f: nothing) a table of the ops that ran: calls, seconds
and share of the kernel time, most time first (kernel time only: Scheme,
autograd bookkeeping and data loading are not in it). The rows stay
available from (kernel-profile) until the next profile."
  (dynamic-wind
    (lambda () (%nl-profile-enable! #t))
    (lambda ()
      (call-with-values thunk
        (lambda results
          (%nl-profile-enable! #f)
          (when port
            (let* ((rows (kernel-profile))
                   (total (apply + (map caddr rows))))
              (format port "~22a ~9@a ~10@a ~6@a~%" "op" "calls" "seconds" "share")
              (for-each (lambda (r)
                          (format port "~22a ~9d ~10,4f ~5,1f%~%" (car r) (cadr r) (caddr r)
                                  (if (> total 0) (* 100 (/ (caddr r) total)) 0)))
                        rows)
              (format port "~22a ~9a ~10,4f~%" "kernels in all" "" total)))
          (apply values results))))
    (lambda () (%nl-profile-enable! #f))))

(define (kernel-profile)
  "The rows of the last profile-kernels run: a list of (op calls seconds),
OP a symbol, most time first."
  (%nl-profile-rows))

(define (threads)
  "The thread count of the runtime."
  (%nl-threads))

(define (set-seed! seed)
  "Seed the global generator used by rand, randn, dropout and parameter
initialisation; the same seed and thread count give the same results."
  (%nl-set-seed! seed))

(define (memory-stats)
  "Host memory accounting as an alist: live-bytes, peak-bytes, allocs, frees,
and cached-bytes (freed buffers the allocator keeps for reuse; not live)."
  (%nl-memory-stats))

(define (reset-peak-memory!)
  "Restart the peak-bytes statistic from the bytes live now."
  (%nl-reset-peak-memory!))

(define (cuda-device-count)
  "The number of usable CUDA devices (0 without CUDA, driver or GPU)."
  (%nl-cuda-device-count))

(define* (synchronize #:optional (device (default-device)))
  "Wait until the work queued on DEVICE (default: the default device) is done;
CUDA kernels run asynchronously, so time device work only after this."
  (%nl-synchronize device))

(define (cuda-available?)
  "#t if at least one CUDA device can be used."
  (> (cuda-device-count) 0))

(define (notellm-version)
  "The version of the notellm runtime."
  (%nl-version))

;;; ---- printing ----------------------------------------------------------------------------------

(define* (tensor->string t #:key (values? #t))
  "The printed form of T: the header #<tensor f32[2 3] cpu requires-grad> and,
when VALUES?, a summary of the values below it."
  (%nl-tensor->string t values?))

(define-method (write (t <tensor>) port)
  (display (%nl-tensor->string t #t) port))
