// SPDX-License-Identifier: GPL-2.0-only
//
// Whether this test program (and the irqd built beside it) runs under a
// sanitizer. ASan holds freed memory in its quarantine and TSan grows its
// shadow memory by design: a resident-size bound means nothing there, so
// the soak tests check RSS only in plain builds (fds, threads and
// accounting are checked in every build).

#pragma once

namespace irqd::test {

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kUnderSanitizer = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr bool kUnderSanitizer = true;
#else
inline constexpr bool kUnderSanitizer = false;
#endif
#else
inline constexpr bool kUnderSanitizer = false;
#endif

}  // namespace irqd::test
