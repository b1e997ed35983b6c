# nl_cuda.m4 — NL_CHECK_CUDA: optional CUDA toolkit (nvcc, cudart, cuBLAS, NCCL).
# --with-cuda[=DIR] (default: auto, DIR /usr/local/cuda), --with-cuda-arch=LIST
# (default "80 90"). Defines HAVE_CUDA, AM_CONDITIONAL HAVE_CUDA, substitutes
# NVCC, CUDA_CFLAGS, CUDA_LIBS, CUDA_ARCH_FLAGS, NVCC_THREADS_FLAG ("-t 2" when
# nvcc compiles the arches in parallel) and sets nl_cuda_summary. Never links
# the driver stub (lib/stubs/libcuda.so): cudart loads the driver lazily.
AC_DEFUN([NL_CHECK_CUDA], [
AC_ARG_WITH([cuda],
  [AS_HELP_STRING([--with-cuda@<:@=DIR@:>@], [build the CUDA backend (default: auto; DIR defaults to /usr/local/cuda)])],
  [], [with_cuda=auto])
AC_ARG_WITH([cuda-arch],
  [AS_HELP_STRING([--with-cuda-arch=LIST], [SM versions to compile for, e.g. "80 90" (default)])],
  [], [with_cuda_arch="80 90"])
AC_ARG_VAR([NVCC], [CUDA compiler])
AC_ARG_VAR([NVCCFLAGS], [extra flags for nvcc])
have_cuda=no
nl_cuda_summary=no
AS_IF([test "x$with_cuda" != xno], [
  AS_CASE([$with_cuda], [yes|auto], [cuda_dir=/usr/local/cuda], [cuda_dir=$with_cuda])
  AC_PATH_PROG([NVCC], [nvcc], [no], [$cuda_dir/bin:$PATH])
  AS_IF([test "x$NVCC" != xno], [
    cuda_libdir=$cuda_dir/lib64
    AS_IF([test -d "$cuda_libdir"], [], [cuda_libdir=$cuda_dir/lib])
    nl_save_CPPFLAGS=$CPPFLAGS; nl_save_LIBS=$LIBS; nl_save_LDFLAGS=$LDFLAGS
    CPPFLAGS="$CPPFLAGS -I$cuda_dir/include"
    LDFLAGS="$LDFLAGS -L$cuda_libdir"
    have_cuda=yes
    AC_CHECK_HEADERS([cuda_runtime.h cublas_v2.h nccl.h], [], [have_cuda=no])
    AC_CHECK_LIB([cudart], [cudaGetDeviceCount], [:], [have_cuda=no])
    AC_CHECK_LIB([cublas], [cublasCreate_v2], [:], [have_cuda=no])
    AC_CHECK_LIB([nccl], [ncclGetVersion], [:], [have_cuda=no])
    CPPFLAGS=$nl_save_CPPFLAGS; LIBS=$nl_save_LIBS; LDFLAGS=$nl_save_LDFLAGS
  ])
  AS_IF([test "x$have_cuda" = xno && test "x$with_cuda" != xauto],
    [AC_MSG_ERROR([--with-cuda given but nvcc, cudart, cuBLAS or NCCL was not found under $cuda_dir])])
])
AS_IF([test "x$have_cuda" = xyes], [
  CUDA_CFLAGS="-I$cuda_dir/include"
  CUDA_LIBS="-L$cuda_libdir -Wl,-rpath,$cuda_libdir -lcublas -lnccl -lcudart"
  CUDA_ARCH_FLAGS=""
  nl_last_arch=""
  for a in $with_cuda_arch; do
    CUDA_ARCH_FLAGS="$CUDA_ARCH_FLAGS -gencode arch=compute_$a,code=sm_$a"
    nl_last_arch=$a
  done
  AS_IF([test -z "$nl_last_arch"], [AC_MSG_ERROR([--with-cuda-arch needs at least one SM version, e.g. "80 90"])])
  # PTX of the newest arch too, so newer GPUs can JIT-compile the kernels.
  CUDA_ARCH_FLAGS="$CUDA_ARCH_FLAGS -gencode arch=compute_$nl_last_arch,code=compute_$nl_last_arch"
  AC_MSG_CHECKING([whether $NVCC accepts -t 2])
  AS_IF([$NVCC -t 2 --version >/dev/null 2>&1],
    [NVCC_THREADS_FLAG="-t 2"; AC_MSG_RESULT([yes])],
    [NVCC_THREADS_FLAG=""; AC_MSG_RESULT([no])])
  nvcc_version=`$NVCC --version | sed -n 's/.*release \(@<:@0-9.@:>@*\).*/\1/p'`
  nl_cuda_summary="yes (nvcc $nvcc_version, sm: $with_cuda_arch)"
  AC_DEFINE([HAVE_CUDA], [1], [Define if the CUDA backend is built])
])
AC_SUBST([CUDA_CFLAGS])
AC_SUBST([CUDA_LIBS])
AC_SUBST([CUDA_ARCH_FLAGS])
AC_SUBST([NVCC_THREADS_FLAG])
AM_CONDITIONAL([HAVE_CUDA], [test "x$have_cuda" = xyes])
])
