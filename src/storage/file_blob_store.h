// Blobs as files named by their SHA-256 under one directory (the SQLite deployment's store).
// A blob is written to a temporary name, fsynced, renamed and its directory fsynced, so it
// is whole and durable before any database row points at it.
#pragma once

#include <memory>
#include <string>

#include "storage/store.h"

namespace statehouse::storage {

std::unique_ptr<BlobStore> OpenFileBlobStore(const std::string& directory);

}  // namespace statehouse::storage
