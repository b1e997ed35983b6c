## runtime/local.mk — libnotellm: the pure-C runtime and the CPU kernels.
lib_LTLIBRARIES += libnotellm.la

libnotellm_la_SOURCES = \
  runtime/error.c runtime/dtype.c runtime/alloc.c runtime/rng.c runtime/runtime.c \
  runtime/device.c runtime/op.c runtime/profile.c runtime/tensor.c runtime/view.c runtime/autograd.c \
  runtime/optim.c \
  runtime/ops/common.c runtime/ops/common.h \
  runtime/ops/elementwise.c runtime/ops/reduce.c runtime/ops/matmul.c runtime/ops/softmax.c \
  runtime/ops/index.c runtime/ops/norm.c runtime/ops/attention.c runtime/ops/loss.c \
  runtime/io/atomic.c runtime/io/json.c runtime/io/safetensors.c runtime/io/npy.c \
  runtime/io/tokenizer.c runtime/io/tokenizer_encode.c runtime/io/tokenizer_impl.h \
  runtime/io/bpe.c runtime/io/bpe.h runtime/io/bpe_train.c \
  runtime/io/image.c runtime/io/imgproc.c \
  runtime/nn/params.c runtime/nn/layers.c runtime/nn/lora.c \
  runtime/models/model_config.c runtime/models/llm.c runtime/models/vit.c \
  runtime/models/qformer.c runtime/models/projector.c runtime/models/notellm.c \
  runtime/data/csv.c runtime/data/notes.c runtime/data/preprocess.c \
  runtime/data/prompt.c runtime/data/batch.c \
  runtime/data/synth.c runtime/data/synth_words.c runtime/data/synth_image.c \
  runtime/train/losses.c runtime/train/gradcache.c runtime/train/head.c runtime/train/checkpoint.c \
  runtime/train/run.c runtime/train/run_config.c \
  runtime/eval/recall.c runtime/eval/recall_scan.c runtime/eval/embfile.c runtime/eval/textmetrics.c runtime/eval/evalrun.c \
  runtime/probe/probe.c runtime/probe/patches.c \
  runtime/report/plot.c runtime/report/plot_tokens.c \
  kernels/formulas.h kernels/matrix.h \
  kernels/cpu/kernels.h kernels/cpu/backend.c kernels/cpu/copy.c \
  kernels/cpu/elementwise.c kernels/cpu/reduce.c kernels/cpu/optim.c kernels/cpu/matmul.c \
  kernels/cpu/softmax.c kernels/cpu/index.c kernels/cpu/norm.c kernels/cpu/loss.c \
  kernels/cpu/attention.c kernels/cpu/gemm.h kernels/cpu/gemm.c
libnotellm_la_CFLAGS = $(AM_CFLAGS) $(BLAS_CFLAGS) $(CJSON_CFLAGS) \
  $(PCRE2_CFLAGS) $(UTF8PROC_CFLAGS) $(PNG_CFLAGS) $(JPEG_CFLAGS) $(WEBP_CFLAGS) $(CAIRO_CFLAGS) -O2
libnotellm_la_LIBADD = $(BLAS_LIBS) $(CJSON_LIBS) \
  $(PCRE2_LIBS) $(UTF8PROC_LIBS) $(PNG_LIBS) $(JPEG_LIBS) $(WEBP_LIBS) $(CAIRO_LIBS) $(OPENMP_CFLAGS) -lm -ldl
libnotellm_la_LDFLAGS = -version-info 0:0:0 -no-undefined

if !HAVE_CUDA
libnotellm_la_SOURCES += kernels/stub/cuda_stub.c
endif

pkginclude_HEADERS = \
  runtime/nl.h runtime/error.h runtime/dtype.h runtime/alloc.h runtime/device.h \
  runtime/op.h runtime/ops.def runtime/profile.h runtime/tensor.h runtime/autograd.h runtime/ops.h \
  runtime/optim.h runtime/rng.h runtime/runtime.h \
  runtime/io/atomic.h runtime/io/json.h runtime/io/safetensors.h runtime/io/tokenizer.h \
  runtime/io/bpe_train.h runtime/io/image.h \
  runtime/nn/params.h runtime/nn/layers.h runtime/nn/lora.h \
  runtime/models/model_config.h runtime/models/llm.h runtime/models/vit.h \
  runtime/models/qformer.h runtime/models/projector.h runtime/models/notellm.h \
  runtime/data/csv.h runtime/data/notes.h runtime/data/preprocess.h \
  runtime/data/prompt.h runtime/data/batch.h runtime/data/synth.h \
  runtime/train/losses.h runtime/train/head.h runtime/train/checkpoint.h runtime/train/gradcache.h runtime/train/run.h \
  runtime/eval/recall.h runtime/eval/recall_scan.h runtime/eval/embfile.h runtime/eval/textmetrics.h runtime/eval/evalrun.h runtime/io/npy.h runtime/probe/probe.h runtime/probe/patches.h runtime/report/plot.h runtime/report/plot_tokens.h
