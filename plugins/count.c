/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * count - the plugin twin of irqd's built-in `count` driver, in plain C
 * against irqd/driver.h: allocates managed vectors spread over the CPUs
 * (IRQD_IRQ_AFFINITY, as a multi-queue driver does) and counts every
 * interrupt per vector. It frees nothing itself: the host releases managed
 * sets at unbind.
 *
 * Options (all optional, decimal):
 *   max_vectors   vectors to ask for at most (0 or unset: the whole table)
 *   pre_vectors   vectors kept out of the spreading at the start
 *   post_vectors  ... and at the end
 *
 * remove() logs what it counted: one line per vector that saw interrupts,
 * "vector 3: 1200 interrupts" (IRQD_LOG_DEBUG), then the total,
 * "1500 interrupts on 4 vectors" (IRQD_LOG_INFO).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "irqd/driver.h"

struct count {
  unsigned entries; /* MSI-X table size: counts[] is indexed by entry */
  unsigned nr;      /* vectors allocated */
  _Atomic uint64_t counts[];
};

/* Option `key` as an unsigned in 0..limit into *out (untouched when unset). */
static int option_uint(struct irqd_host *host, const char *key, unsigned limit, unsigned *out) {
  const char *value = host->ops->option(host, key);
  char *end = NULL;
  unsigned long n;

  if (value == NULL) return 0;
  errno = 0;
  n = strtoul(value, &end, 10);
  if (value[0] < '0' || value[0] > '9' || errno != 0 || *end != '\0' || n > limit) {
    irqd_logf(host, IRQD_LOG_ERR, "option %s = \"%s\" is not valid (accepted: 0..%u)", key, value, limit);
    return -EINVAL;
  }
  *out = (unsigned)n;
  return 0;
}

static int count_probe(struct irqd_host *host, void **ctx) {
  const unsigned entries = host->ops->msix_count(host);
  struct irqd_affinity affd = {0};
  unsigned max = 0, min, i;
  struct count *c;
  int ret;

  if (entries == 0) {
    irqd_logf(host, IRQD_LOG_ERR, "%s has no MSI-X entries", host->ops->device_name(host));
    return -ENODEV;
  }
  if ((ret = option_uint(host, "max_vectors", entries, &max)) < 0 ||
      (ret = option_uint(host, "pre_vectors", entries, &affd.pre_vectors)) < 0 ||
      (ret = option_uint(host, "post_vectors", entries, &affd.post_vectors)) < 0)
    return ret;
  if (max == 0) max = entries;
  min = affd.pre_vectors + affd.post_vectors;
  if (min == 0) min = 1;

  c = malloc(sizeof(*c) + entries * sizeof(c->counts[0]));
  if (c == NULL) return -ENOMEM;
  c->entries = entries;
  for (i = 0; i < entries; i++) atomic_init(&c->counts[i], 0);

  ret = host->ops->alloc_managed_vectors(host, min, max, IRQD_IRQ_MSIX | IRQD_IRQ_AFFINITY, &affd, NULL, &c->nr);
  if (ret < 0) {
    irqd_logf(host, IRQD_LOG_ERR, "cannot allocate %u..%u managed vectors: %s", min, max, strerror(-ret));
    free(c);
    return ret;
  }
  irqd_logf(host, IRQD_LOG_INFO, "%u managed vectors, spread", c->nr);
  *ctx = c;
  return 0;
}

static void count_handle(void *ctx, unsigned vector, uint64_t count, uint64_t stamp_ns) {
  struct count *c = ctx;

  (void)stamp_ns;
  if (vector < c->entries) atomic_fetch_add_explicit(&c->counts[vector], count, memory_order_relaxed);
}

static void count_remove(struct irqd_host *host, void *ctx) {
  struct count *c = ctx;
  uint64_t total = 0;
  unsigned i;

  for (i = 0; i < c->entries; i++) {
    const uint64_t n = atomic_load_explicit(&c->counts[i], memory_order_relaxed);
    if (n == 0) continue;
    irqd_logf(host, IRQD_LOG_DEBUG, "vector %u: %" PRIu64 " interrupts", i, n);
    total += n;
  }
  irqd_logf(host, IRQD_LOG_INFO, "%" PRIu64 " interrupts on %u vectors", total, c->nr);
  free(c); /* the managed vectors are the host's to release */
}

static const struct irqd_driver count_driver = {
    .abi_version = IRQD_DRIVER_ABI_VERSION,
    .name = "count",
    .probe = count_probe,
    .remove = count_remove,
    .handle = count_handle,
};

const struct irqd_driver *irqd_driver_descriptor(void) { return &count_driver; }
