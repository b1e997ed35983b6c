/* main.c — the `notellm` executable: command line, UTF-8 locale, Guile boot,
 * load paths, and the interactive terminal (GNU Readline callback API,
 * persistent history, completion, multi-line input, Ctrl-C). What input
 * means is decided in Scheme by (notellm repl). */
#include <errno.h>
#include <langinfo.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libguile.h>
#include <readline/history.h>
#include <readline/readline.h>

#include "config.h"
#include "runtime.h"

typedef struct {
    const char *threads, *seed, *device, *expr, *script;
    int script_argc;
    char **script_argv;
} options;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: notellm [OPTION]... [FILE.scm [ARG]...]\n"
            "       notellm [OPTION]... COMMAND [ARG]...\n"
            "A workbench for LLM-based note representation models (NoteLLM, NoteLLM-2).\n\n"
            "Without FILE: an interactive prompt with (notellm) loaded.\n"
            "With FILE: run the script; (command-line) is FILE and its ARGs.\n"
            "Commands (each takes --help):\n"
            "  gen-notes DIR  write the synthetic benchmark to DIR\n"
            "  train CONFIG   train a NoteLLM / NoteLLM-2 model from a JSON run configuration\n"
            "  eval CKPT      recall@K of a trained checkpoint on every test pair list\n\n"
            "  -c EXPR        evaluate EXPR and exit\n"
            "  --threads N    threads for OpenMP loops and OpenBLAS (default: NOTELLM_THREADS or all cores)\n"
            "  --seed N       seed the random generator\n"
            "  --device DEV   default device: cpu, cuda, cuda:N\n"
            "  --help         show this help and exit\n"
            "  --version      show the version and exit\n\n"
            "History is kept in ~/.notellm_history (NOTELLM_HISTORY overrides the path).\n");
}

/* 0 ok, 1 exit successfully now (help/version), 2 usage error. */
static int parse_args(int argc, char **argv, options *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char **slot = NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 1; }
        if (!strcmp(a, "--version")) { printf("notellm %s\n", PACKAGE_VERSION); return 1; }
        if (!strcmp(a, "-c")) slot = &o->expr;
        else if (!strcmp(a, "--threads")) slot = &o->threads;
        else if (!strcmp(a, "--seed")) slot = &o->seed;
        else if (!strcmp(a, "--device")) slot = &o->device;
        else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "notellm: unknown option '%s' (try --help)\n", a);
            return 2;
        } else {
            o->script = a;
            o->script_argc = argc - i;
            o->script_argv = argv + i;
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "notellm: option '%s' needs a value (try --help)\n", a);
            return 2;
        }
        *slot = argv[++i];
    }
    return 0;
}

static int all_digits(const char *s)
{
    if (!*s) return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9') return 0;
    return 1;
}

/* ---- Scheme helpers ------------------------------------------------------- */

static SCM repl_proc(const char *name) { return scm_c_public_ref("notellm repl", name); }

/* Call proc with args inside a catch-all; returns the value or SCM_BOOL_F. */
static SCM safe_body(void *data)
{
    SCM *call = data;
    return scm_apply_0(call[0], call[1]);
}

static int done;             /* leave the loops */
static int exit_status = -1; /* set by (exit N) */

static SCM safe_handler(void *data, SCM key, SCM args)
{
    (void)data;
    if (scm_is_eq(key, scm_from_utf8_symbol("quit"))) { /* (exit [status]) */
        SCM v = scm_is_pair(args) ? scm_car(args) : SCM_BOOL_T;
        exit_status = scm_is_integer(v) ? scm_to_int(v) : scm_is_false(v) ? 1 : 0;
        done = 1;
        return SCM_BOOL_F;
    }
    SCM msg = scm_call_2(repl_proc("repl-error-message"), key, args);
    char *s = scm_to_utf8_string(msg);
    fprintf(stderr, "%s\n", s);
    free(s);
    return SCM_BOOL_F;
}

static SCM safe_call(SCM proc, SCM args)
{
    SCM call[2] = {proc, args};
    return scm_c_catch(SCM_BOOL_T, safe_body, call, safe_handler, NULL, NULL, NULL);
}

/* ---- Ctrl-C: set the runtime flag, then let Guile's handler queue its async */

static struct sigaction guile_sigint;

static void on_sigint(int sig)
{
    nl_interrupt_request();
    if (guile_sigint.sa_flags & SA_SIGINFO) {
        if (guile_sigint.sa_sigaction) guile_sigint.sa_sigaction(sig, NULL, NULL);
    } else if (guile_sigint.sa_handler != SIG_DFL && guile_sigint.sa_handler != SIG_IGN && guile_sigint.sa_handler) {
        guile_sigint.sa_handler(sig);
    }
}

static void chain_sigint(void)
{
    struct sigaction sa;
    sigaction(SIGINT, NULL, &guile_sigint);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
}

/* ---- interactive loop ------------------------------------------------------- */

static char *pending;      /* accumulated multi-line input */
static char history_path[4096];

static void append_pending(const char *line)
{
    size_t a = pending ? strlen(pending) : 0, b = strlen(line);
    char *p = realloc(pending, a + b + 2);
    if (!p) return;
    if (a) p[a++] = '\n';
    memcpy(p + a, line, b + 1);
    pending = p;
}

static const char *prompt(void) { return pending ? "...> " : "notellm> "; }

static void on_line(char *line)
{
    if (!line) { /* Ctrl-D */
        done = 1;
        rl_callback_handler_remove();
        printf("\n");
        return;
    }
    if (!pending && line[strspn(line, " \t")] == '\0') { free(line); return; }
    append_pending(line);
    free(line);
    SCM str = scm_from_utf8_string(pending);
    SCM status = safe_call(repl_proc("repl-input-status"), scm_list_1(str));
    if (scm_is_eq(status, scm_from_utf8_symbol("incomplete"))) {
        rl_set_prompt(prompt());
        return;
    }
    add_history(pending);
    if (history_path[0]) append_history(1, history_path);
    char *input = pending;
    pending = NULL;
    rl_callback_handler_remove();
    safe_call(repl_proc("repl-evaluate"), scm_list_1(scm_from_utf8_string(input)));
    free(input);
    scm_flush_all_ports();
    if (!done) rl_callback_handler_install(prompt(), on_line);
    else printf("\n");
}

static char *complete_one(const char *text, int state)
{
    static SCM list;
    if (state == 0) {
        if (list) scm_gc_unprotect_object(list);
        list = safe_call(repl_proc("repl-completions"), scm_list_1(scm_from_utf8_string(text)));
        if (!scm_is_true(scm_list_p(list))) list = SCM_EOL;
        scm_gc_protect_object(list);
    }
    if (scm_is_null(list)) return NULL;
    char *s = scm_to_utf8_string(scm_car(list));
    scm_gc_unprotect_object(list);
    list = scm_cdr(list);
    scm_gc_protect_object(list);
    return s;
}

static char **complete(const char *text, int start, int end)
{
    (void)start; (void)end;
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, complete_one);
}

static void setup_history(void)
{
    const char *p = getenv("NOTELLM_HISTORY"), *home = getenv("HOME");
    if (p) snprintf(history_path, sizeof history_path, "%s", p);
    else if (home) snprintf(history_path, sizeof history_path, "%s/.notellm_history", home);
    using_history();
    if (history_path[0]) {
        if (read_history(history_path) != 0) { /* create it so append_history works */
            FILE *f = fopen(history_path, "a");
            if (f) fclose(f);
        }
        stifle_history(5000);
    }
}

/* Discard the current line and pending input after an interrupt at the prompt. */
static SCM interrupted_at_prompt(void *data, SCM key, SCM args)
{
    (void)data; (void)key; (void)args;
    nl_interrupt_clear();
    free(pending);
    pending = NULL;
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_crlf();
    rl_callback_handler_remove();
    rl_callback_handler_install(prompt(), on_line);
    return SCM_BOOL_F;
}

static SCM tick(void *data) { (void)data; scm_async_tick(); return SCM_BOOL_T; }

static void interactive(void)
{
    rl_readline_name = "notellm";
    rl_catch_signals = 0;
    rl_basic_word_break_characters = " \t\n\"'`;()[]";
    rl_attempted_completion_function = complete;
    setup_history();
    rl_callback_handler_install(prompt(), on_line);
    while (!done) {
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(0, &fds);
        scm_flush_all_ports();
        int r = scm_std_select(1, &fds, NULL, NULL, NULL);
        if (r < 0) {
            if (errno == EINTR) scm_c_catch(SCM_BOOL_T, tick, NULL, interrupted_at_prompt, NULL, NULL, NULL);
            continue;
        }
        if (FD_ISSET(0, &fds)) rl_callback_read_char();
    }
}

/* Non-tty stdin: read it whole-form by whole-form, plainly. */
static int piped(void)
{
    char *line = NULL;
    size_t cap = 0;
    while (!done && getline(&line, &cap, stdin) >= 0) {
        line[strcspn(line, "\n")] = '\0';
        if (!pending && line[strspn(line, " \t")] == '\0') continue;
        append_pending(line);
        SCM st = safe_call(repl_proc("repl-input-status"), scm_list_1(scm_from_utf8_string(pending)));
        if (scm_is_eq(st, scm_from_utf8_symbol("incomplete"))) continue;
        safe_call(repl_proc("repl-evaluate"), scm_list_1(scm_from_utf8_string(pending)));
        free(pending);
        pending = NULL;
        scm_flush_all_ports();
    }
    if (pending && !done) /* unbalanced input at EOF: report the read error */
        safe_call(repl_proc("repl-evaluate"), scm_list_1(scm_from_utf8_string(pending)));
    free(line);
    return 0;
}

/* ---- boot ------------------------------------------------------------------ */

static void add_paths(void)
{
    /* Installed dirs go last, so GUILE_LOAD_PATH (uninstalled runs) wins. */
    scm_c_eval_string("(set! %load-path (append %load-path (list \"" NL_GUILE_MODDIR "\")))");
    scm_c_eval_string("(set! %load-compiled-path (append %load-compiled-path (list \"" NL_GUILE_OBJDIR "\")))");
}

static void *inner_main(void *data)
{
    options *o = data;
    int status = 0;
    add_paths();
    SCM ok = scm_c_catch(SCM_BOOL_T, (scm_t_catch_body)scm_c_resolve_module, (void *)"notellm repl",
                         safe_handler, NULL, NULL, NULL);
    if (scm_is_false(ok)) {
        fprintf(stderr, "notellm: cannot load the (notellm repl) module HINT: check the installation or GUILE_LOAD_PATH\n");
        return (void *)2;
    }
    scm_c_use_module("notellm repl");
    SCM um = safe_call(repl_proc("repl-user-module"), SCM_EOL);
    if (scm_is_true(um)) scm_set_current_module(um);
    if (o->threads) safe_call(scm_c_public_ref("notellm", "set-threads!"), scm_list_1(scm_from_int(atoi(o->threads))));
    if (o->seed) safe_call(scm_c_public_ref("notellm", "set-seed!"), scm_list_1(scm_c_locale_stringn_to_number(o->seed, strlen(o->seed), 10)));
    if (o->device) safe_call(scm_c_public_ref("notellm", "set-default-device!"), scm_list_1(scm_from_utf8_string(o->device)));
    safe_call(repl_proc("install-interrupt-handler!"), SCM_EOL);
    chain_sigint();
    if (o->script && scm_is_true(safe_call(repl_proc("repl-command?"), scm_list_1(scm_from_locale_string(o->script))))) {
        SCM args = SCM_EOL;
        for (int i = o->script_argc - 1; i >= 1; i--) args = scm_cons(scm_from_locale_string(o->script_argv[i]), args);
        safe_call(repl_proc("repl-run-command"), scm_list_2(scm_from_locale_string(o->script), args));
    } else if (o->script) {
        scm_set_program_arguments(o->script_argc, o->script_argv, NULL);
        safe_call(repl_proc("repl-run-script"), scm_list_1(scm_from_locale_string(o->script)));
    } else if (o->expr) {
        safe_call(repl_proc("repl-run-expression"), scm_list_1(scm_from_locale_string(o->expr)));
    } else if (isatty(0)) {
        interactive();
    } else {
        status = piped();
    }
    scm_flush_all_ports();
    return (void *)(intptr_t)(exit_status >= 0 ? exit_status : status);
}

int main(int argc, char **argv)
{
    options o = {0};
    int r = parse_args(argc, argv, &o);
    if (r) return r == 1 ? 0 : 2;
    if (o.threads && (!all_digits(o.threads) || atoi(o.threads) < 1)) {
        fprintf(stderr, "notellm: --threads needs a positive integer, got '%s'\n", o.threads);
        return 2;
    }
    if (o.seed && !all_digits(o.seed)) {
        fprintf(stderr, "notellm: --seed needs a non-negative integer, got '%s'\n", o.seed);
        return 2;
    }
    /* UTF-8 whatever the environment: Guile's ports follow the locale. */
    if (!setlocale(LC_ALL, "") || strcmp(nl_langinfo(CODESET), "UTF-8") != 0) setlocale(LC_ALL, "C.UTF-8");
    if (!getenv("GUILE_AUTO_COMPILE")) setenv("GUILE_AUTO_COMPILE", "0", 1);
    return (int)(intptr_t)scm_with_guile(inner_main, &o);
}
