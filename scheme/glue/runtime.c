/* runtime.c — process-wide knobs (threads, seed, memory statistics, CUDA
 * availability, version) and the allocator hooks that tie host memory to
 * Guile's collector: every allocation is reported to the GC, and an
 * allocation that failed runs the GC and finalizers before its one retry.
 * Hooks act only on threads the collector knows (Guile-mode threads), and
 * not inside a primitive that declared its allocations transient. */
#include <libguile/bdw-gc.h>

#include "glue.h"

static _Thread_local int transient_depth;

static void alloc_hook(size_t nbytes)
{
    if (transient_depth == 0 && GC_thread_is_registered()) scm_gc_register_allocation(nbytes);
}

static void transient_enter(void *unused) { transient_depth++; }
static void transient_leave(void *unused) { transient_depth--; }

void nl_scm_dynwind_transient_allocations(void)
{
    scm_dynwind_rewind_handler(transient_enter, NULL, SCM_F_WIND_EXPLICITLY);
    scm_dynwind_unwind_handler(transient_leave, NULL, SCM_F_WIND_EXPLICITLY);
}

static void oom_hook(void)
{
    if (!GC_thread_is_registered()) return;
    scm_gc();
    scm_run_finalizers();
}

#define FUNC_NAME "set-threads!"
static SCM set_threads_x(SCM n)
{
    int64_t k = nl_scm_to_i64(n, 1, FUNC_NAME);
    if (k < 1 || k > 1024) scm_out_of_range_pos(FUNC_NAME, n, scm_from_int(1));
    NL_SCM_CHECK(FUNC_NAME, nl_set_threads((int)k));
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM threads(void) { return scm_from_int(nl_get_threads()); }

#define FUNC_NAME "set-seed!"
static SCM set_seed_x(SCM seed)
{
    if (!scm_is_exact_integer(seed)) scm_wrong_type_arg_msg(FUNC_NAME, 1, seed, "exact integer");
    SCM low = scm_logand(seed, scm_from_uint64(UINT64_MAX)); /* any integer, modulo 2^64 */
    nl_rng_seed(nl_rng_global(), scm_to_uint64(low));
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM memory_stats(void)
{
    nl_mem_stats s;
    nl_host_mem_stats(&s);
    return scm_list_5(scm_cons(scm_from_utf8_symbol("live-bytes"), scm_from_size_t(s.live_bytes)),
                      scm_cons(scm_from_utf8_symbol("peak-bytes"), scm_from_size_t(s.peak_bytes)),
                      scm_cons(scm_from_utf8_symbol("allocs"), scm_from_size_t(s.n_allocs)),
                      scm_cons(scm_from_utf8_symbol("frees"), scm_from_size_t(s.n_frees)),
                      scm_cons(scm_from_utf8_symbol("cached-bytes"), scm_from_size_t(s.cached_bytes)));
}

static SCM reset_peak_memory_x(void)
{
    nl_host_mem_reset_peak();
    return SCM_UNSPECIFIED;
}

static SCM profile_enable_x(SCM on)
{
    nl_profile_enable(scm_is_true(on));
    return SCM_UNSPECIFIED;
}

static SCM profile_rows(void)
{
    nl_profile_row rows[NL_OP_COUNT];
    int n = nl_profile_rows(rows, NL_OP_COUNT);
    SCM out = SCM_EOL;
    for (int i = n - 1; i >= 0; i--)
        out = scm_cons(scm_list_3(scm_from_utf8_symbol(nl_op_get_info(rows[i].op)->name), scm_from_int64(rows[i].calls),
                                  scm_from_double(rows[i].seconds)),
                       out);
    return out;
}

static SCM cuda_device_count(void) { return scm_from_int(nl_cuda_device_count()); }

static SCM interrupt_pending_p(void) { return scm_from_bool(nl_interrupt_pending()); }

static SCM interrupt_clear_x(void)
{
    nl_interrupt_clear();
    return SCM_UNSPECIFIED;
}

#define FUNC_NAME "synchronize"
static SCM synchronize(SCM dev)
{
    char *name = scm_to_utf8_string(scm_symbol_p(dev) == SCM_BOOL_T ? scm_symbol_to_string(dev) : dev);
    nl_device d;
    nl_status st = nl_device_parse(name, &d);
    free(name);
    NL_SCM_CHECK(FUNC_NAME, st);
    NL_SCM_CHECK(FUNC_NAME, nl_device_synchronize(d));
    return SCM_UNSPECIFIED;
}
#undef FUNC_NAME

static SCM version(void) { return scm_from_utf8_string(nl_version()); }

void nl_scm_init_runtime(void)
{
    nl_runtime_init();
    nl_set_alloc_hook(alloc_hook);
    nl_set_oom_hook(oom_hook);
    static const nl_scm_proc procs[] = {
        {"%nl-set-threads!", 1, 0, 0, (scm_t_subr)set_threads_x, "Set the OpenMP team size of the CPU kernels."},
        {"%nl-profile-enable!", 1, 0, 0, (scm_t_subr)profile_enable_x,
         "Start counting kernel time afresh (#t), or stop and keep the counts (#f)."},
        {"%nl-profile-rows", 0, 0, 0, (scm_t_subr)profile_rows,
         "The kernel profile: a list of (op calls seconds), most time first."},
        {"%nl-threads", 0, 0, 0, (scm_t_subr)threads, "The thread count."},
        {"%nl-set-seed!", 1, 0, 0, (scm_t_subr)set_seed_x, "Seed the global random generator."},
        {"%nl-memory-stats", 0, 0, 0, (scm_t_subr)memory_stats,
         "Host memory accounting: alist of live-bytes, peak-bytes, allocs, frees."},
        {"%nl-reset-peak-memory!", 0, 0, 0, (scm_t_subr)reset_peak_memory_x, "Set peak-bytes to the live bytes."},
        {"%nl-cuda-device-count", 0, 0, 0, (scm_t_subr)cuda_device_count, "The number of usable CUDA devices."},
        {"%nl-version", 0, 0, 0, (scm_t_subr)version, "The libnotellm version string."},
        {"%nl-interrupt-pending?", 0, 0, 0, (scm_t_subr)interrupt_pending_p,
         "True when Ctrl-C set the runtime's interrupt flag and no primitive has reported it yet."},
        {"%nl-interrupt-clear!", 0, 0, 0, (scm_t_subr)interrupt_clear_x,
         "Clear the runtime's interrupt flag (the REPL's SIGINT handler calls it)."},
        {"%nl-synchronize", 1, 0, 0, (scm_t_subr)synchronize, "Wait for the work queued on a device (a symbol such as cuda:0)."},
    };
    NL_SCM_DEFINE_ALL(procs);
}
