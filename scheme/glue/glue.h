/* glue.h — shared pieces of the Guile extension libguile-notellm: the tensor
 * and optimizer foreign types (take/to/release verbs), status -> exception
 * mapping, symbol <-> enum tables, argument converters and the primitive
 * registration table. Only scheme/glue and repl/ may include libguile.h;
 * nothing in runtime/ may depend on this file. */
#ifndef NL_GLUE_H
#define NL_GLUE_H

#include <libguile.h>

#include "layers.h"
#include "nl.h"

/* ---- entry point and primitive registration (init.c) ---------------------- */
/* The extension's init function: defines and exports every %nl- primitive,
 * <tensor> and <optimizer> in the current module, installs the allocator
 * hooks and reads NOTELLM_THREADS. */
void nl_guile_init(void);

/* One %nl- primitive: Scheme name, arity, C function and a docstring that
 * (procedure-documentation p) returns. */
typedef struct nl_scm_proc {
    const char *name;
    int req, opt, rest;
    scm_t_subr fn;
    const char *doc;
} nl_scm_proc;

/* Define and export the table's procedures in the current module. */
void nl_scm_define_procs(const nl_scm_proc *procs, size_t n);
#define NL_SCM_DEFINE_ALL(table) nl_scm_define_procs((table), sizeof(table) / sizeof((table)[0]))

void nl_scm_init_errors(void);
void nl_scm_init_tensor_type(void);
void nl_scm_init_tensor(void);
void nl_scm_init_view(void);
void nl_scm_init_print(void);
void nl_scm_init_ops(void);
void nl_scm_init_autograd(void);
void nl_scm_init_optim(void);
void nl_scm_init_runtime(void);
void nl_scm_init_io(void);
void nl_scm_init_model(void);
void nl_scm_init_llm(void);
void nl_scm_init_vision(void);
void nl_scm_init_tokenizer(void);
void nl_scm_init_data(void);
void nl_scm_init_run(void);
void nl_scm_init_plot(void);
void nl_scm_init_eval(void);
void nl_scm_init_probe(void);

/* ---- errors (error.c) ----------------------------------------------------- */
/* Raise the exception for a failed status (key per status, message from
 * nl_last_error, subr `who`). Clears the interrupt flag for NL_ERR_INTERRUPTED. */
SCM_NORETURN void nl_scm_raise(nl_status st, const char *who);
/* Set a runtime-style message and raise it (for checks made in the glue). */
SCM_NORETURN void nl_scm_raisef(nl_status st, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define NL_SCM_CHECK(who, expr)                              \
    do {                                                     \
        nl_status nl_scm_st_ = (expr);                       \
        if (nl_scm_st_ != NL_OK) nl_scm_raise(nl_scm_st_, who); \
    } while (0)

/* ---- the tensor type (tensor-type.c) ------------------------------------- */
extern SCM nl_scm_tensor_class;
/* Wrap a new reference (the Scheme object owns it from now on). */
SCM nl_scm_take_tensor(nl_tensor *t);
/* Wrap an extra reference to t. */
SCM nl_scm_from_tensor(nl_tensor *t);
int nl_scm_is_tensor(SCM obj);
/* Unwrap: wrong-type-arg unless a tensor; notellm-error when it was freed. */
nl_tensor *nl_scm_to_tensor(SCM obj, int pos, const char *who);
/* As nl_scm_to_tensor, but #f gives NULL. */
nl_tensor *nl_scm_to_tensor_or_null(SCM obj, int pos, const char *who);
/* The wrapped pointer or NULL when freed (no checks beyond the type). */
nl_tensor *nl_scm_tensor_peek(SCM obj);
/* Release now (tensor-free!); later use raises "the tensor was freed". */
void nl_scm_release_tensor(SCM obj);

/* ---- allocations (runtime.c) ---------------------------------------------------- */
/* Within the current dynwind context, host allocations are not reported to
 * the collector: for primitives (a training step, an evaluation) whose
 * runtime memory is freed before they return, so reporting it would only
 * trigger needless collections (measured: about half of a training step). */
void nl_scm_dynwind_transient_allocations(void);

/* ---- other foreign types: unwrap or raise wrong-type-arg (notellm-error when freed) */
struct nl_tokenizer;
struct nl_run;
struct nl_tokenizer *nl_scm_to_tokenizer(SCM obj, int pos, const char *who); /* tokenizer.c */
struct nl_run *nl_scm_to_run(SCM obj, int pos, const char *who);             /* run.c */
/* 'full 'text-only 'image-only -> nl_run_variant (run.h), else wrong-type-arg. */
int nl_scm_to_run_variant(SCM v, int pos, const char *who);                 /* run.c */
/* A list of dataset note indices -> GC array (never NULL); *n gets the count. */
int64_t *nl_scm_to_note_indices(SCM notes, long *n, int pos, const char *who); /* run.c */

/* ---- the model type (model.c) ------------------------------------------------ */
typedef enum { NL_SCM_LLM, NL_SCM_VIT, NL_SCM_QFORMER, NL_SCM_MODEL_KINDS } nl_scm_model_kind;
/* Unwrap a model of the given kind (-1: any; *kind_out gets it): wrong-type-arg
 * unless a model, notellm-error when freed or of another kind. */
void *nl_scm_to_model(SCM obj, int kind, int pos, const char *who, int *kind_out);
/* A C string of a Scheme string or symbol, freed when the current dynwind
 * context ends. */
char *nl_scm_dynwind_utf8(SCM s, int pos, const char *who);

/* What a forward primitive collects besides its output: every layer's hidden
 * state and the attention probe. Begin inside a dynwind context (the probe is
 * freed when it ends); the list getters hand the tensors to Scheme. */
typedef struct nl_scm_fwd {
    bool want_hidden, want_probe;
    int n_hidden;
    nl_tensor **hidden;   /* n_hidden slots, or NULL when not wanted */
    nl_attn_probe probe;
} nl_scm_fwd;
void nl_scm_fwd_begin(nl_scm_fwd *f, bool want_hidden, int n_hidden, bool want_probe, int n_probe, const char *who);
SCM nl_scm_fwd_hidden(nl_scm_fwd *f);    /* list of tensors, or #f */
SCM nl_scm_fwd_attention(nl_scm_fwd *f); /* list of tensors (#f for unrecorded layers), or #f */

/* ---- conversions (convert.c) ---------------------------------------------- */
nl_dtype nl_scm_to_dtype(SCM sym, int pos, const char *who);
SCM nl_scm_from_dtype(nl_dtype dt);
nl_device nl_scm_to_device(SCM sym, int pos, const char *who);
SCM nl_scm_from_device(nl_device d);
/* A shape: a list of at most NL_MAX_DIMS exact integers, or one integer
 * (the runtime rejects negative sizes with its shape message). Returns ndim. */
int nl_scm_to_shape(SCM obj, int64_t *shape, int pos, const char *who);
SCM nl_scm_from_shape(int ndim, const int64_t *shape);
int64_t nl_scm_to_i64(SCM obj, int pos, const char *who);
double nl_scm_to_real(SCM obj, int pos, const char *who);
/* A list of tensors -> GC-allocated array (freed by the collector, so an
 * error unwinding past the caller leaks nothing). */
nl_tensor **nl_scm_to_tensor_array(SCM lst, int *n, int pos, const char *who);

#endif
