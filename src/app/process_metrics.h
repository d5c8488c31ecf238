// Scrape-time metrics of the application: the process (CPU, memory, descriptors), the caches,
// the database totals and the runs by status. Registered by Serve; read by GET /metrics.
#pragma once

#include <functional>

#include "common/metrics.h"
#include "http/router.h"
#include "storage/store.h"

namespace statehouse::app {

// process_cpu_seconds_total, process_resident_memory_bytes, process_virtual_memory_bytes,
// process_open_fds, process_max_fds, process_start_time_seconds (Linux /proc).
void AddProcessCollector(metrics::Registry& registry);

// Reply and token cache hits and misses.
void AddCacheCollector(metrics::Registry& registry, const http::Dispatcher& dispatcher);

// State versions and bytes, blobs and bytes, runs by status (read from the database at most
// every few seconds, whatever the scrape rate); transaction latency by kind.
void AddDatabaseMetrics(metrics::Registry& registry, storage::Database& db);

}  // namespace statehouse::app
