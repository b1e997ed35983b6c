/* json.h — reading HF JSON files (config.json, index files) with cJSON:
 * bounded file loading with a clear parse error, and typed field getters
 * whose errors name the file and the key. Depends on the runtime core only. */
#ifndef NL_JSON_H
#define NL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct cJSON;

/* Parse the whole file (at most max_bytes; 0 means 64 MiB). NL_ERR_IO when it
 * cannot be read, NL_ERR_FORMAT (with the byte offset) when it is not JSON or
 * the top level is not an object. Free with cJSON_Delete. */
nl_status nl_json_load(struct cJSON **out, const char *path, size_t max_bytes);

/* Field getters. `what` names the file in messages. When the key is absent:
 * required → NL_ERR_FORMAT "missing key"; otherwise *out keeps its value
 * (the caller's default). A present key of the wrong type, a non-integral
 * number, or a value outside [lo, hi] → NL_ERR_FORMAT naming key and value. */
nl_status nl_json_int(const struct cJSON *obj, const char *what, const char *key, bool required,
                      int64_t lo, int64_t hi, int64_t *out);
nl_status nl_json_num(const struct cJSON *obj, const char *what, const char *key, bool required,
                      double lo, double hi, double *out);
nl_status nl_json_bool(const struct cJSON *obj, const char *what, const char *key, bool required,
                       bool *out);
/* *out points into obj (valid while obj lives). */
nl_status nl_json_str(const struct cJSON *obj, const char *what, const char *key, bool required,
                      const char **out);

#endif
