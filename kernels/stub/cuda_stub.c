/* cuda_stub.c — the CUDA entry points when notellm is built without CUDA:
 * every cuda:N device reports a clear device error, the count is 0. */
#include "../../runtime/device.h"

nl_status nl_cuda_backend_load(const nl_backend **out)
{
    *out = NULL;
    return nl_error_set(NL_ERR_DEVICE, "notellm was built without CUDA"
                                       " HINT: reconfigure with --with-cuda on a machine with the CUDA toolkit");
}

int nl_cuda_backend_device_count(void) { return 0; }
