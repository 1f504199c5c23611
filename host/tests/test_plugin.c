/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test drivers for plugin_test, one source built as several plugins (C99,
 * -Wpedantic: the header must be plain C):
 *
 *   TEST_PLUGIN_SCRIPT           "script": probe runs the steps of option
 *                                "do", remove() those of option "undo",
 *                                logging each result as "STEP -> RESULT";
 *                                handle() tries one alloc_vectors() (not
 *                                allowed there) and remove() logs what it
 *                                got as "handle alloc -> RESULT".
 *   TEST_PLUGIN_BAD_ABI          abi_version one past the header's.
 *   TEST_PLUGIN_NO_DESCRIPTOR    exports no irqd_driver_descriptor().
 *   TEST_PLUGIN_NO_HANDLE        a descriptor without handle().
 *   TEST_PLUGIN_NULL_DESCRIPTOR  irqd_driver_descriptor() returns NULL.
 *
 * Steps (comma-separated): alloc:N (alloc_vectors 1..N, MSI-X only),
 * managed:N (alloc_managed_vectors 1..N, spread), at:I or at:any
 * (alloc_vector_at), free:H (free_vectors of handle H), bar:B (map_bar),
 * opt:KEY (option), name (device_name and msix_count), badflags
 * (alloc_vectors without IRQD_IRQ_MSIX), fail:E (probe returns E).
 */

#include <stdlib.h>
#include <string.h>

#include "irqd/driver.h"

#if defined(TEST_PLUGIN_SCRIPT) || defined(TEST_PLUGIN_BAD_ABI) || defined(TEST_PLUGIN_NO_HANDLE)

struct script {
  struct irqd_host* host; /* for handle(): calling in is refused there */
  int handle_calls;
  int handle_alloc;
};

static void log_set(struct irqd_host* host, const char* step, int ret, const unsigned* v, unsigned nr) {
  char line[256];
  size_t len;
  unsigned i;

  len = (size_t)snprintf(line, sizeof(line), "%s -> %d", step, ret);
  if (ret > 0) {
    len += (size_t)snprintf(line + len, sizeof(line) - len, " (");
    for (i = 0; i < nr && len < sizeof(line) - 16; i++)
      len += (size_t)snprintf(line + len, sizeof(line) - len, i ? " %u" : "%u", v[i]);
    snprintf(line + len, sizeof(line) - len, ")");
  }
  host->ops->log(host, IRQD_LOG_INFO, line);
}

/* One step; returns nonzero (the errno to fail probe with) for fail:E. */
static int run_step(struct irqd_host* host, const char* step) {
  const char* arg = strchr(step, ':');
  unsigned v[64];
  unsigned nr = 0;
  int ret;

  arg = arg ? arg + 1 : "";
  if (strncmp(step, "alloc:", 6) == 0) {
    ret = host->ops->alloc_vectors(host, 1, (unsigned)atoi(arg), IRQD_IRQ_MSIX, NULL, v, &nr);
    log_set(host, step, ret, v, nr);
  } else if (strncmp(step, "managed:", 8) == 0) {
    ret =
        host->ops->alloc_managed_vectors(host, 1, (unsigned)atoi(arg), IRQD_IRQ_MSIX | IRQD_IRQ_AFFINITY, NULL, v, &nr);
    log_set(host, step, ret, v, nr);
  } else if (strncmp(step, "at:", 3) == 0) {
    ret = host->ops->alloc_vector_at(host, strcmp(arg, "any") == 0 ? IRQD_ANY_INDEX : (unsigned)atoi(arg), v);
    log_set(host, step, ret, v, 1);
  } else if (strncmp(step, "free:", 5) == 0) {
    log_set(host, step, host->ops->free_vectors(host, atoi(arg)), v, 0);
  } else if (strncmp(step, "bar:", 4) == 0) {
    volatile void* addr = NULL;
    size_t size = 0;
    ret = host->ops->map_bar(host, (unsigned)atoi(arg), &addr, &size);
    irqd_logf(host, IRQD_LOG_INFO, "%s -> %d%s", step, ret, ret == 0 && addr != NULL ? " mapped" : "");
  } else if (strncmp(step, "opt:", 4) == 0) {
    const char* value = host->ops->option(host, arg);
    irqd_logf(host, IRQD_LOG_INFO, "%s -> %s", step, value ? value : "(unset)");
  } else if (strcmp(step, "name") == 0) {
    irqd_logf(host, IRQD_LOG_INFO, "name -> %s %u", host->ops->device_name(host), host->ops->msix_count(host));
  } else if (strcmp(step, "badflags") == 0) {
    log_set(host, step, host->ops->alloc_vectors(host, 1, 1, 0, NULL, v, &nr), v, nr);
  } else if (strncmp(step, "fail:", 5) == 0) {
    irqd_logf(host, IRQD_LOG_ERR, "failing on purpose with %s", arg);
    return atoi(arg);
  } else {
    irqd_logf(host, IRQD_LOG_ERR, "unknown step '%s'", step);
    return -22;
  }
  return 0;
}

static int run_steps(struct irqd_host* host, const char* key) {
  const char* steps = host->ops->option(host, key);
  char step[64];
  int ret;

  while (steps != NULL && *steps != '\0') {
    size_t n = strcspn(steps, ",");
    if (n >= sizeof(step)) n = sizeof(step) - 1;
    memcpy(step, steps, n);
    step[n] = '\0';
    steps += strcspn(steps, ",");
    if (*steps == ',') steps++;
    if ((ret = run_step(host, step)) != 0) return ret;
  }
  return 0;
}

static int script_probe(struct irqd_host* host, void** ctx) {
  struct script* s = calloc(1, sizeof(*s));
  int ret;

  if (s == NULL) return -12;
  s->host = host;
  (void)host->ops->option(host, "undo"); /* read in remove() */
  ret = run_steps(host, "do");
  if (ret != 0) {
    free(s);
    return ret;
  }
  *ctx = s;
  return 0;
}

#ifndef TEST_PLUGIN_NO_HANDLE
static void script_handle(void* ctx, unsigned vector, uint64_t count, uint64_t stamp_ns) {
  struct script* s = ctx;
  (void)vector;
  (void)count;
  (void)stamp_ns;
  if (s->handle_calls++ == 0)
    s->handle_alloc = s->host->ops->alloc_vectors(s->host, 1, 1, IRQD_IRQ_MSIX, NULL, NULL, NULL);
}
#endif

static void script_remove(struct irqd_host* host, void* ctx) {
  struct script* s = ctx;
  if (s->handle_calls > 0) irqd_logf(host, IRQD_LOG_INFO, "handle alloc -> %d", s->handle_alloc);
  (void)run_steps(host, "undo");
  free(s);
}

static const struct irqd_driver script_driver = {
#ifdef TEST_PLUGIN_BAD_ABI
    IRQD_DRIVER_ABI_VERSION + 1,
#else
    IRQD_DRIVER_ABI_VERSION,
#endif
    "script",
    script_probe,
    script_remove,
#ifdef TEST_PLUGIN_NO_HANDLE
    NULL,
#else
    script_handle,
#endif
};

const struct irqd_driver* irqd_driver_descriptor(void) { return &script_driver; }

#elif defined(TEST_PLUGIN_NULL_DESCRIPTOR)

const struct irqd_driver* irqd_driver_descriptor(void) { return NULL; }

#elif defined(TEST_PLUGIN_NO_DESCRIPTOR)

IRQD_DRIVER_EXPORT int irqd_driver_descriptr(void); /* a typo: not what irqd looks for */
int irqd_driver_descriptr(void) { return 0; }

#else
#error "build with one of the TEST_PLUGIN_* variants"
#endif
