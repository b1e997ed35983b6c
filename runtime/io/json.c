/* json.c — bounded JSON file loading and typed getters over cJSON. */
#include "json.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

nl_status nl_json_load(cJSON **out, const char *path, size_t max_bytes)
{
    *out = NULL;
    if (max_bytes == 0) max_bytes = (size_t)64 << 20;
    FILE *f = fopen(path, "rb");
    if (!f) return nl_error_set(NL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return nl_error_set(NL_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    long size = ftell(f);
    if (size < 0 || (unsigned long)size > max_bytes) {
        fclose(f);
        return nl_error_set(NL_ERR_FORMAT, "%s: %ld bytes is larger than the %zu-byte limit for a JSON file",
                            path, size, max_bytes);
    }
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return nl_error_set(NL_ERR_OOM, "%s: cannot allocate %ld bytes", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int read_err = ferror(f);
    fclose(f);
    if (got != (size_t)size || read_err) {
        free(buf);
        return nl_error_set(NL_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, size);
    }
    buf[size] = '\0';
    if (memchr(buf, '\0', (size_t)size)) {
        free(buf);
        return nl_error_set(NL_ERR_FORMAT, "%s: NUL byte inside JSON text", path);
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithOpts(buf, &end, 1);
    if (!j) {
        size_t at = end ? (size_t)(end - buf) : 0;
        free(buf);
        return nl_error_set(NL_ERR_FORMAT, "%s: invalid JSON near byte %zu (truncated or malformed)", path, at);
    }
    free(buf);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return nl_error_set(NL_ERR_FORMAT, "%s: top level is not a JSON object", path);
    }
    *out = j;
    return NL_OK;
}

static nl_status field(const cJSON *obj, const char *what, const char *key, bool required,
                       const cJSON **item)
{
    *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!*item && required) return nl_error_set(NL_ERR_FORMAT, "%s: missing key \"%s\"", what, key);
    return NL_OK;
}

nl_status nl_json_num(const cJSON *obj, const char *what, const char *key, bool required,
                      double lo, double hi, double *out)
{
    const cJSON *it;
    NL_TRY(field(obj, what, key, required, &it));
    if (!it) return NL_OK;
    if (!cJSON_IsNumber(it))
        return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" must be a number", what, key);
    double v = it->valuedouble;
    if (!isfinite(v) || v < lo || v > hi)
        return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" = %g is outside [%g, %g]", what, key, v, lo, hi);
    *out = v;
    return NL_OK;
}

nl_status nl_json_int(const cJSON *obj, const char *what, const char *key, bool required,
                      int64_t lo, int64_t hi, int64_t *out)
{
    const cJSON *it;
    NL_TRY(field(obj, what, key, required, &it));
    if (!it) return NL_OK;
    if (!cJSON_IsNumber(it))
        return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" must be an integer", what, key);
    double v = it->valuedouble;
    if (v != floor(v) || !isfinite(v))
        return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" = %g is not an integer", what, key, v);
    if (v < (double)lo || v > (double)hi)
        return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" = %.0f is outside [%lld, %lld]", what, key, v,
                            (long long)lo, (long long)hi);
    *out = (int64_t)v;
    return NL_OK;
}

nl_status nl_json_bool(const cJSON *obj, const char *what, const char *key, bool required, bool *out)
{
    const cJSON *it;
    NL_TRY(field(obj, what, key, required, &it));
    if (!it) return NL_OK;
    if (!cJSON_IsBool(it)) return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = cJSON_IsTrue(it);
    return NL_OK;
}

nl_status nl_json_str(const cJSON *obj, const char *what, const char *key, bool required, const char **out)
{
    const cJSON *it;
    NL_TRY(field(obj, what, key, required, &it));
    if (!it) return NL_OK;
    if (!cJSON_IsString(it)) return nl_error_set(NL_ERR_FORMAT, "%s: \"%s\" must be a string", what, key);
    *out = it->valuestring;
    return NL_OK;
}
