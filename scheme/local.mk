## scheme/local.mk — the Guile extension (scheme/glue) and the (notellm ...) modules.

# ---- libguile-notellm: the C primitives, a libtool module Guile dlopens -------
guileext_LTLIBRARIES = libguile-notellm.la
libguile_notellm_la_SOURCES = \
  scheme/glue/glue.h scheme/glue/init.c scheme/glue/error.c scheme/glue/convert.c \
  scheme/glue/tensor-type.c scheme/glue/tensor.c scheme/glue/view.c scheme/glue/print.c \
  scheme/glue/ops.c scheme/glue/autograd.c scheme/glue/optim.c scheme/glue/runtime.c \
  scheme/glue/io.c scheme/glue/model.c scheme/glue/llm.c scheme/glue/vision.c \
  scheme/glue/tokenizer.c scheme/glue/data.c scheme/glue/run.c scheme/glue/plot.c \
  scheme/glue/eval.c scheme/glue/probe.c
libguile_notellm_la_CFLAGS = $(AM_CFLAGS) $(GUILE_CFLAGS)
libguile_notellm_la_LIBADD = libnotellm.la $(GUILE_LIBS)
libguile_notellm_la_LDFLAGS = -module -avoid-version -no-undefined

# ---- Scheme modules, compiled with guild --------------------------------------
# Other areas append their modules to notellm_scm (e.g. repl/local.mk adds
# scheme/notellm/repl.scm); each gets a .go installed after its source.
notellm_scm = scheme/notellm/primitives.scm scheme/notellm/tensor.scm \
  scheme/notellm/train.scm scheme/notellm/plot.scm scheme/notellm/nn.scm scheme/notellm/text.scm scheme/notellm/models.scm \
  scheme/notellm/data.scm scheme/notellm/eval.scm scheme/notellm/probe.scm scheme/notellm/notebook.scm

guilemodtopdir = $(guilemoddir)
dist_guilemodtop_DATA = scheme/notellm.scm
notellmmoddir = $(guilemoddir)/notellm
dist_notellmmod_DATA = $(notellm_scm)
nodist_notellmmod_DATA = scheme/notellm/config.scm

guileobjtopdir = $(guileobjdir)
guileobjtop_DATA = scheme/notellm.go
notellmgodir = $(guileobjdir)/notellm
notellmgo_DATA = scheme/notellm/config.go $(notellm_scm:.scm=.go)

EXTRA_DIST += scheme/notellm/config.scm.in
CLEANFILES += scheme/notellm/config.scm scheme/notellm.go $(notellmgo_DATA)

# Made by make, not configure: configure would leave ${libdir} unexpanded in
# guileextdir, and config.scm must hold the final absolute directory.
scheme/notellm/config.scm: $(srcdir)/scheme/notellm/config.scm.in Makefile
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	sed -e 's|@PACKAGE_VERSION[@]|$(PACKAGE_VERSION)|g' -e 's|@guileextdir[@]|$(guileextdir)|g' \
	  $(srcdir)/scheme/notellm/config.scm.in > $@.tmp && mv $@.tmp $@

SUFFIXES += .scm .go
GUILE_WARNINGS = -Wunbound-variable -Warity-mismatch -Wformat
# Compiling a module loads the modules it imports, and (notellm primitives)
# loads the extension: point Guile at the build tree. Warnings go to stderr.
.scm.go:
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	GUILE_AUTO_COMPILE=0 GUILE_EXTENSIONS_PATH=$(abs_top_builddir)/.libs \
	LTDL_LIBRARY_PATH=$(abs_top_builddir)/.libs \
	$(GUILD) compile $(GUILE_WARNINGS) -L $(abs_top_builddir)/scheme -L $(abs_top_srcdir)/scheme \
	  -o $@ $< >/dev/null

# Imports (macros such as with-no-grad expand into the importer's .go).
scheme/notellm/primitives.go: scheme/notellm/config.go libguile-notellm.la
scheme/notellm/tensor.go: scheme/notellm/primitives.go
scheme/notellm/plot.go: scheme/notellm/primitives.go
scheme/notellm/train.go: scheme/notellm/primitives.go scheme/notellm/plot.go
scheme/notellm/nn.go: scheme/notellm/tensor.go
scheme/notellm/text.go: scheme/notellm/primitives.go
scheme/notellm/models.go: scheme/notellm/tensor.go scheme/notellm/text.go
scheme/notellm/data.go: scheme/notellm/text.go
scheme/notellm/eval.go: scheme/notellm/data.go scheme/notellm/train.go scheme/notellm/tensor.go \
  scheme/notellm/models.go scheme/notellm/plot.go
scheme/notellm/probe.go: scheme/notellm/eval.go scheme/notellm/tensor.go scheme/notellm/plot.go \
  scheme/notellm/notebook.go
scheme/notellm.go: scheme/notellm/tensor.go scheme/notellm/train.go scheme/notellm/plot.go scheme/notellm/nn.go \
  scheme/notellm/text.go scheme/notellm/models.go scheme/notellm/data.go scheme/notellm/eval.go \
  scheme/notellm/probe.go scheme/notellm/notebook.go

# A .go must be installed after (so be newer than) its source.
guile_install_go_files = install-notellmgoDATA install-guileobjtopDATA
$(guile_install_go_files): install-dist_notellmmodDATA install-nodist_notellmmodDATA install-dist_guilemodtopDATA
