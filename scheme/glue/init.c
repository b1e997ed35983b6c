/* init.c — the extension's entry point nl_guile_init (called by
 * (notellm primitives) when it loads the extension) and the table-driven
 * definition of %nl- primitives with their docstrings. */
#include "glue.h"

void nl_scm_define_procs(const nl_scm_proc *procs, size_t n)
{
    SCM doc = scm_from_utf8_symbol("documentation");
    for (size_t i = 0; i < n; i++) {
        SCM p = scm_c_define_gsubr(procs[i].name, procs[i].req, procs[i].opt, procs[i].rest, procs[i].fn);
        scm_set_procedure_property_x(p, doc, scm_from_utf8_string(procs[i].doc));
        scm_c_export(procs[i].name, NULL);
    }
}

void nl_guile_init(void)
{
    nl_scm_init_errors();
    nl_scm_init_tensor_type();
    nl_scm_init_tensor();
    nl_scm_init_view();
    nl_scm_init_print();
    nl_scm_init_ops();
    nl_scm_init_autograd();
    nl_scm_init_optim();
    nl_scm_init_runtime();
    nl_scm_init_io();
    nl_scm_init_model();
    nl_scm_init_llm();
    nl_scm_init_vision();
    nl_scm_init_tokenizer();
    nl_scm_init_data();
    nl_scm_init_run();
    nl_scm_init_plot();
    nl_scm_init_eval();
    nl_scm_init_probe();
}
