/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * irqd/driver.h - the C ABI between irqd and a driver plugin.
 *
 * A driver plugin is a shared object that irqd loads with dlopen() and binds
 * to one device (a VFIO PCI function or a software device). It exports one
 * function, irqd_driver_descriptor(), returning a struct irqd_driver:
 *
 *   probe(host, &ctx)                 bind: allocate vectors, map BARs, read
 *                                     options; 0 or a negative errno.
 *   handle(ctx, vector, count, stamp) per interrupt, on irqd's worker threads.
 *   remove(host, ctx)                 unbind: the driver's last word.
 *
 * and calls back into irqd through host->ops (struct irqd_host_ops). Every
 * callback that can fail returns a negative errno; the host also logs the
 * reason in words.
 *
 * Build (C99 or later, or C++):
 *
 *   gcc -std=c11 -shared -fPIC -fvisibility=hidden -I<prefix>/include \
 *       -o mydrv.so mydrv.c
 *
 * and point the device's [device.driver] plugin = "/path/mydrv.so" at it.
 * A plugin runs inside irqd with irqd's privileges: it is trusted code.
 *
 * VECTOR OWNERSHIP (DESIGN.md)
 *   alloc_vectors() and alloc_vector_at() are explicit: the set belongs to the
 *   driver, which frees it with free_vectors(). A set still allocated when
 *   the device is unbound is reported as a leak by this driver, then freed
 *   once by the host. alloc_managed_vectors() is managed: the host frees the
 *   set at unbind, after remove(), newest first; free_vectors() on it is
 *   refused (-EPERM) and reported. Nothing else decides ownership.
 *
 * THREADS AND LIFETIMES
 *   probe() and remove() run on irqd's control thread, one device at a time.
 *   handle() runs on the worker (or reactor) thread serving the vector, never
 *   before probe() returned 0 and never after remove() started; different
 *   vectors may be handled concurrently on different threads, one vector by
 *   one thread at a time. alloc_*(), free_vectors() and map_bar() may only
 *   be called from inside probe() and remove() (otherwise -EPERM); log(),
 *   option(), device_name() and msix_count() from any thread. The host
 *   pointer is valid from probe() until remove() returns. If probe() fails,
 *   remove() is not called: probe frees its own memory, and the host
 *   releases every vector it allocated (explicit ones it left allocated are
 *   reported as its leaks, then freed).
 *
 * VERSIONING
 *   irqd loads a plugin only when the descriptor's abi_version equals its
 *   own IRQD_DRIVER_ABI_VERSION; anything else is refused with both numbers
 *   named. The version is bumped by any change to a struct in this file
 *   (a member added, removed, reordered or retyped), to a callback's
 *   signature or meaning, to a constant's value, or to the rules above.
 *   abi_version stays the first member of struct irqd_driver in every
 *   version, so any irqd can read it from any plugin.
 */

#ifndef IRQD_DRIVER_H
#define IRQD_DRIVER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IRQD_DRIVER_ABI_VERSION 1

/* Allocation flags (pci_alloc_irq_vectors()). IRQD_IRQ_MSIX is required. */
#define IRQD_IRQ_MSIX (1u << 0)     /* PCI_IRQ_MSIX */
#define IRQD_IRQ_AFFINITY (1u << 1) /* PCI_IRQ_AFFINITY: spread over the CPUs, kernel rules */

/* alloc_vector_at(): the lowest free MSI-X entry (MSI_ANY_INDEX). */
#define IRQD_ANY_INDEX (~0u)

/* At most this many sets in struct irqd_affinity (IRQ_AFFINITY_MAX_SETS). */
#define IRQD_AFFINITY_MAX_SETS 4

/* log() levels: the syslog priorities. */
#define IRQD_LOG_ERR 3
#define IRQD_LOG_WARNING 4
#define IRQD_LOG_NOTICE 5
#define IRQD_LOG_INFO 6
#define IRQD_LOG_DEBUG 7

/*
 * struct irq_affinity: vectors kept out of the spreading at the start
 * (pre_vectors) and end (post_vectors), and the sizes of the sets the rest
 * is spread as (nr_sets 0: one set of all of them). Only with
 * IRQD_IRQ_AFFINITY; NULL means all zero.
 */
struct irqd_affinity {
  unsigned pre_vectors;
  unsigned post_vectors;
  unsigned nr_sets;
  unsigned set_size[IRQD_AFFINITY_MAX_SETS];
};

struct irqd_host;

struct irqd_host_ops {
  /*
   * alloc_vectors / alloc_managed_vectors - allocate between min and max
   * MSI-X vectors (explicit / managed, see VECTOR OWNERSHIP).
   *
   * flags: IRQD_IRQ_MSIX, optionally | IRQD_IRQ_AFFINITY (then affd may give
   * pre/post vectors and sets; spreading caps max at pre + post + one per
   * possible CPU, as irq_calc_affinity_vectors()). On success returns the
   * set's handle (> 0), stores the number of vectors in *nr and their MSI-X
   * entry indices, ascending, in vectors[0 .. *nr) (room for max entries);
   * either pointer may be NULL.
   *
   * Errors: -EINVAL (min 0, max < min, flags without IRQD_IRQ_MSIX or with
   * unknown bits, affd without IRQD_IRQ_AFFINITY, pre + post > min, more
   * than IRQD_AFFINITY_MAX_SETS sets), -ENOSPC (fewer than min vectors can
   * be had, or any other refusal; the host logs why), -EPERM (called
   * outside probe() and remove()).
   */
  int (*alloc_vectors)(struct irqd_host* host, unsigned min, unsigned max, unsigned flags,
                       const struct irqd_affinity* affd, unsigned* vectors, unsigned* nr);
  int (*alloc_managed_vectors)(struct irqd_host* host, unsigned min, unsigned max, unsigned flags,
                               const struct irqd_affinity* affd, unsigned* vectors, unsigned* nr);

  /*
   * alloc_vector_at - one more explicit vector at MSI-X entry `index`
   * (IRQD_ANY_INDEX: the lowest free one), default affinity, like
   * pci_msix_alloc_irq_at(). Returns the set's handle (> 0) and the entry
   * in *vector (may be NULL). Errors: -EINVAL (index past the MSI-X
   * table), -EBUSY (entry already allocated), -ENOSPC (any other refusal,
   * logged), -EPERM.
   */
  int (*alloc_vector_at)(struct irqd_host* host, unsigned index, unsigned* vector);

  /*
   * free_vectors - free an explicit set now (pci_free_irq_vectors()).
   * Returns 0. Errors, each reported by the host as an ownership problem
   * of this driver and freeing nothing: -EPERM (a managed set: the host
   * frees it at unbind), -EALREADY (freed before). -EBADF: no set has
   * this handle. -EPERM also outside probe() and remove().
   */
  int (*free_vectors)(struct irqd_host* host, int handle);

  /*
   * map_bar - mmap PCI BAR `bar` (0..5) of a VFIO device. Stores the
   * address in *addr and the BAR's size in *size; returns 0. The mapping
   * is managed: it stays valid until the device is unbound and is unmapped
   * by the host (do not munmap it). Mapping a BAR twice returns the same
   * mapping. The pages holding the device's MSI-X table (and whatever the
   * kernel does not let userspace map) are left out: they stay PROT_NONE,
   * so an access there faults (SIGSEGV) instead of overwriting the
   * messages the kernel programmed; on a BAR that holds nothing but the
   * table, every access faults. Errors: -ENODEV (not a VFIO device, e.g.
   * a software device), -EINVAL (bar > 5, NULL pointer), -EIO (the BAR
   * cannot be mapped; the host logs why), -EPERM.
   */
  int (*map_bar)(struct irqd_host* host, unsigned bar, volatile void** addr, size_t* size);

  /*
   * option - the value of the driver option `key` from the device's
   * configuration ([device.driver] options = { key = "value" }), or NULL
   * when it is not set. The string stays valid while the plugin is loaded.
   * Options the driver never looks up in probe() are logged as warnings
   * (a misspelt key).
   */
  const char* (*option)(struct irqd_host* host, const char* key);

  /*
   * log - one line at `level` (IRQD_LOG_*), attributed to this driver and
   * device. Newlines and control characters are replaced by spaces; long
   * messages are cut at 1024 bytes.
   */
  void (*log)(struct irqd_host* host, int level, const char* message);

  /* device_name - "0000:03:00.0" for a VFIO device, the configured name
   * of a software device. Valid while bound. */
  const char* (*device_name)(struct irqd_host* host);

  /* msix_count - the size of the device's MSI-X table. */
  unsigned (*msix_count)(struct irqd_host* host);
};

/* What probe() and remove() get: the callbacks (and, hidden behind this
 * struct, the host's own state). */
struct irqd_host {
  const struct irqd_host_ops* ops;
};

struct irqd_driver {
  /* IRQD_DRIVER_ABI_VERSION of the header the plugin was built with. */
  unsigned abi_version;
  /* Short name ([a-z0-9_-], 1..32 characters): reports, leaks and metrics
   * name the driver by it. */
  const char* name;
  /*
   * probe - bind to host's device. Store per-device state in *ctx (it is
   * passed to handle() and remove()). Returns 0, or a negative errno; log
   * the reason first at IRQD_LOG_ERR, it becomes part of the bind error.
   * Required.
   */
  int (*probe)(struct irqd_host* host, void** ctx);
  /* remove - unbind: free explicit sets and ctx. Optional (NULL). */
  void (*remove)(struct irqd_host* host, void* ctx);
  /*
   * handle - `count` interrupts of MSI-X entry `vector` (coalesced in its
   * eventfd); stamp_ns is the CLOCK_MONOTONIC time the oldest of them was
   * raised, 0 when the device cannot tell (real hardware). Required.
   */
  void (*handle)(void* ctx, unsigned vector, uint64_t count, uint64_t stamp_ns);
};

#if defined(__GNUC__)
#define IRQD_DRIVER_EXPORT __attribute__((visibility("default")))
#define IRQD_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define IRQD_DRIVER_EXPORT
#define IRQD_PRINTF(fmt, args)
#endif

/*
 * The one symbol irqd looks up. A function rather than an exported data
 * object: dlsym() finds either, but a function keeps the descriptor a
 * private `static const` of the plugin (no copy relocation, nothing the
 * host could write), lets the plugin build or refuse it at run time
 * (return NULL: irqd reports it), and makes a plugin that exports a
 * data object of the same name fail to link against this declaration.
 */
IRQD_DRIVER_EXPORT const struct irqd_driver* irqd_driver_descriptor(void);

/* printf-style log(): a convenience over host->ops->log. */
static inline IRQD_PRINTF(3, 4) void irqd_logf(struct irqd_host* host, int level, const char* fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  host->ops->log(host, level, line);
}

#ifdef __cplusplus
}
#endif

#endif /* IRQD_DRIVER_H */
