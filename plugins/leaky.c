/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * leaky - the plugin twin of irqd's built-in `leaky` driver: allocates
 * explicit vectors (alloc_vectors, no spreading) and never frees them, not
 * even in remove(), so the host reports the leak at unbind, names this
 * driver and the vectors, and frees them once. The ownership rule made
 * visible: an explicit set is the driver's to free.
 *
 * Options: max_vectors (decimal, 0 or unset: the whole table).
 * remove() logs the interrupts it saw: "1500 interrupts" (IRQD_LOG_INFO).
 */

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "irqd/driver.h"

struct leaky {
  _Atomic uint64_t total;
  int handle; /* never passed to free_vectors(), on purpose */
};

static int leaky_probe(struct irqd_host *host, void **ctx) {
  const unsigned entries = host->ops->msix_count(host);
  const char *opt = host->ops->option(host, "max_vectors");
  unsigned max = entries, nr = 0;
  struct leaky *l;

  if (opt != NULL) {
    char *end = NULL;
    unsigned long n;
    errno = 0;
    n = strtoul(opt, &end, 10);
    if (opt[0] < '0' || opt[0] > '9' || errno != 0 || *end != '\0' || n > entries) {
      irqd_logf(host, IRQD_LOG_ERR, "option max_vectors = \"%s\" is not valid (accepted: 0..%u)", opt, entries);
      return -EINVAL;
    }
    if (n != 0) max = (unsigned)n;
  }
  if (max == 0) {
    irqd_logf(host, IRQD_LOG_ERR, "%s has no MSI-X entries", host->ops->device_name(host));
    return -ENODEV;
  }
  l = malloc(sizeof(*l));
  if (l == NULL) return -ENOMEM;
  atomic_init(&l->total, 0);
  l->handle = host->ops->alloc_vectors(host, 1, max, IRQD_IRQ_MSIX, NULL, NULL, &nr);
  if (l->handle < 0) {
    const int ret = l->handle;
    irqd_logf(host, IRQD_LOG_ERR, "cannot allocate 1..%u explicit vectors: %s", max, strerror(-ret));
    free(l);
    return ret;
  }
  irqd_logf(host, IRQD_LOG_INFO, "%u explicit vectors, never freed: unbind reports the leak", nr);
  *ctx = l;
  return 0;
}

static void leaky_handle(void *ctx, unsigned vector, uint64_t count, uint64_t stamp_ns) {
  struct leaky *l = ctx;

  (void)vector;
  (void)stamp_ns;
  atomic_fetch_add_explicit(&l->total, count, memory_order_relaxed);
}

static void leaky_remove(struct irqd_host *host, void *ctx) {
  struct leaky *l = ctx;

  irqd_logf(host, IRQD_LOG_INFO, "%" PRIu64 " interrupts", atomic_load_explicit(&l->total, memory_order_relaxed));
  free(l); /* ... and not host->ops->free_vectors(host, l->handle): the leak */
}

static const struct irqd_driver leaky_driver = {
    .abi_version = IRQD_DRIVER_ABI_VERSION,
    .name = "leaky",
    .probe = leaky_probe,
    .remove = leaky_remove,
    .handle = leaky_handle,
};

const struct irqd_driver *irqd_driver_descriptor(void) { return &leaky_driver; }
