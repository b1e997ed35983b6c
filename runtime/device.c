/* device.c — device names and the backend registry. CUDA is resolved lazily
 * through nl_cuda_backend_load (kernels/cuda loader or kernels/stub). */
#include "device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nl_status nl_device_parse(const char *s, nl_device *out)
{
    if (strcmp(s, "cpu") == 0) { *out = NL_CPU_DEVICE; return NL_OK; }
    if (strncmp(s, "cuda", 4) == 0) {
        if (s[4] == '\0') { *out = (nl_device){NL_DEV_CUDA, 0}; return NL_OK; }
        if (s[4] == ':' && s[5] >= '0' && s[5] <= '9') {
            char *end;
            long idx = strtol(s + 5, &end, 10);
            if (*end == '\0' && idx >= 0 && idx < 64) { *out = (nl_device){NL_DEV_CUDA, (int)idx}; return NL_OK; }
        }
    }
    return nl_error_set(NL_ERR_DEVICE, "unknown device \"%s\" HINT: use cpu, cuda or cuda:N", s);
}

void nl_device_name(nl_device d, char *buf, size_t n)
{
    if (d.type == NL_DEV_CPU) snprintf(buf, n, "cpu");
    else snprintf(buf, n, "cuda:%d", d.index);
}

int nl_device_equal(nl_device a, nl_device b) { return a.type == b.type && a.index == b.index; }

nl_status nl_device_backend(nl_device d, const nl_backend **out)
{
    if (d.type == NL_DEV_CPU) { *out = nl_cpu_backend(); return NL_OK; }
    NL_TRY(nl_cuda_backend_load(out));
    int count = nl_cuda_backend_device_count();
    if (d.index >= count)
        return nl_error_set(NL_ERR_DEVICE, "cuda:%d does not exist (%d CUDA device%s found)",
                            d.index, count, count == 1 ? "" : "s");
    return NL_OK;
}

nl_status nl_device_synchronize(nl_device d)
{
    const nl_backend *b;
    NL_TRY(nl_device_backend(d, &b));
    return b->synchronize ? b->synchronize(d.index) : NL_OK;
}

int nl_cuda_device_count(void)
{
    const nl_backend *b;
    if (nl_cuda_backend_load(&b) != NL_OK) { return 0; }
    return nl_cuda_backend_device_count();
}
