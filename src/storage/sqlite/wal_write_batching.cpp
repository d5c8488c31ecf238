#include "storage/sqlite/wal_write_batching.h"

#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>

namespace statehouse::storage::sqlite {
namespace {

constexpr const char* kVfsName = "statehouse-wal-batching";
// Pending bytes beyond this are written first (a large transaction spilling pages).
constexpr size_t kMaxPending = size_t{4} << 20;
// Buffer capacity kept between transactions (a small commit's frames fit).
constexpr size_t kKeptCapacity = size_t{256} << 10;

sqlite3_vfs* g_base = nullptr;  // the default VFS underneath

// The object SQLite allocates for each open file (szOsFile bytes): ours, then the base VFS's.
struct File {
  sqlite3_file base;  // its pMethods are ours
  sqlite3_file* real;
  enum class Kind { kMainDb, kWal, kOther } kind;
  std::string db_path;  // main db files and WAL files: the database's path

  // WAL files: bytes written but not yet passed on, at file offset pending_offset.
  std::mutex mutex;
  std::string pending;
  sqlite3_int64 pending_offset = 0;
};

File* Self(sqlite3_file* f) { return reinterpret_cast<File*>(f); }
sqlite3_file* Real(sqlite3_file* f) { return Self(f)->real; }

// Writes bytes through the base file in pieces it accepts: the unix VFS writes at most
// 0x1ffff bytes per call (it masks larger sizes and reports a short write as SQLITE_FULL).
int WriteInPieces(sqlite3_file* real, const char* data, size_t size, sqlite3_int64 offset) {
  constexpr size_t kPiece = 31 * 4096;
  for (size_t done = 0; done < size;) {
    size_t n = std::min(kPiece, size - done);
    int rc = real->pMethods->xWrite(real, data + done, static_cast<int>(n),
                                    offset + static_cast<sqlite3_int64>(done));
    if (rc != SQLITE_OK) return rc;
    done += n;
  }
  return SQLITE_OK;
}

// Writes what is pending; called with the file's mutex held.
int FlushLocked(File* f) {
  if (f->pending.empty()) return SQLITE_OK;
  int rc = WriteInPieces(f->real, f->pending.data(), f->pending.size(), f->pending_offset);
  f->pending.clear();
  // A large transaction's buffer is not kept by every pooled connection that ran one.
  if (f->pending.capacity() > kKeptCapacity) std::string().swap(f->pending);
  return rc;
}

// The WAL files open on each database, so that the end of a write transaction (seen on the
// main file's shared-memory lock) can write what a connection left pending.
std::mutex g_registry_mutex;
std::multimap<std::string, File*> g_wal_files;

void FlushWalFilesOf(const std::string& db_path) {
  std::lock_guard registry(g_registry_mutex);
  auto [begin, end] = g_wal_files.equal_range(db_path);
  for (auto it = begin; it != end; ++it) {
    std::lock_guard lock(it->second->mutex);
    FlushLocked(it->second);  // only frames of a rolled-back transaction can be left here
  }
}

// ---- methods shared by every kind of file: passed on ----

int Close(sqlite3_file* f) {
  File* self = Self(f);
  int rc = SQLITE_OK;
  if (self->kind == File::Kind::kWal) {
    {
      std::lock_guard registry(g_registry_mutex);
      for (auto it = g_wal_files.begin(); it != g_wal_files.end(); ++it)
        if (it->second == self) {
          g_wal_files.erase(it);
          break;
        }
    }
    std::lock_guard lock(self->mutex);
    rc = FlushLocked(self);
  }
  int closed = self->real->pMethods ? self->real->pMethods->xClose(self->real) : SQLITE_OK;
  self->~File();
  return rc != SQLITE_OK ? rc : closed;
}
int Read(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xRead(Real(f), buf, amount, offset);
}
int Write(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  return Real(f)->pMethods->xWrite(Real(f), buf, amount, offset);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  return Real(f)->pMethods->xTruncate(Real(f), size);
}
int Sync(sqlite3_file* f, int flags) { return Real(f)->pMethods->xSync(Real(f), flags); }
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  return Real(f)->pMethods->xFileSize(Real(f), size);
}
int Lock(sqlite3_file* f, int level) { return Real(f)->pMethods->xLock(Real(f), level); }
int Unlock(sqlite3_file* f, int level) { return Real(f)->pMethods->xUnlock(Real(f), level); }
int CheckReservedLock(sqlite3_file* f, int* out) {
  return Real(f)->pMethods->xCheckReservedLock(Real(f), out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  return Real(f)->pMethods->xFileControl(Real(f), op, arg);
}
int SectorSize(sqlite3_file* f) { return Real(f)->pMethods->xSectorSize(Real(f)); }
int DeviceCharacteristics(sqlite3_file* f) {
  return Real(f)->pMethods->xDeviceCharacteristics(Real(f));
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** out) {
  return Real(f)->pMethods->xShmMap(Real(f), region, size, extend, out);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  // WAL_WRITE_LOCK is lock 0: releasing it ends a write transaction, committed (its frames were
  // written at its fsync) or rolled back (frames it spilled may still be pending). They are
  // written while the lock is still held, so that they cannot land on a later writer's frames.
  if (Self(f)->kind == File::Kind::kMainDb && flags == (SQLITE_SHM_UNLOCK | SQLITE_SHM_EXCLUSIVE) &&
      offset == 0 && n >= 1)
    FlushWalFilesOf(Self(f)->db_path);
  return Real(f)->pMethods->xShmLock(Real(f), offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) { Real(f)->pMethods->xShmBarrier(Real(f)); }
int ShmUnmap(sqlite3_file* f, int delete_flag) {
  return Real(f)->pMethods->xShmUnmap(Real(f), delete_flag);
}
int Fetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return Real(f)->pMethods->xFetch(Real(f), offset, amount, out);
}
int Unfetch(sqlite3_file* f, sqlite3_int64 offset, void* p) {
  return Real(f)->pMethods->xUnfetch(Real(f), offset, p);
}

// ---- WAL files: writes gather, anything else writes them first ----

int WalWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  File* self = Self(f);
  std::lock_guard lock(self->mutex);
  auto size = static_cast<size_t>(amount);
  bool follows = !self->pending.empty() &&
                 offset == self->pending_offset + static_cast<sqlite3_int64>(self->pending.size());
  if (!follows || self->pending.size() + size > kMaxPending) {
    if (int rc = FlushLocked(self); rc != SQLITE_OK) return rc;
    if (size > kMaxPending)
      return WriteInPieces(self->real, static_cast<const char*>(buf), size, offset);
    self->pending_offset = offset;
  }
  self->pending.append(static_cast<const char*>(buf), size);
  return SQLITE_OK;
}

// Passes the call on once what is pending is written.
template <typename Call>
int AfterFlush(sqlite3_file* f, Call call) {
  File* self = Self(f);
  std::lock_guard lock(self->mutex);
  if (int rc = FlushLocked(self); rc != SQLITE_OK) return rc;
  return call(self->real);
}

int WalRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return AfterFlush(f, [&](sqlite3_file* r) { return r->pMethods->xRead(r, buf, amount, offset); });
}
int WalTruncate(sqlite3_file* f, sqlite3_int64 size) {
  return AfterFlush(f, [&](sqlite3_file* r) { return r->pMethods->xTruncate(r, size); });
}
int WalSync(sqlite3_file* f, int flags) {
  return AfterFlush(f, [&](sqlite3_file* r) { return r->pMethods->xSync(r, flags); });
}
int WalFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return AfterFlush(f, [&](sqlite3_file* r) { return r->pMethods->xFileSize(r, size); });
}
int WalFileControl(sqlite3_file* f, int op, void* arg) {
  return AfterFlush(f, [&](sqlite3_file* r) { return r->pMethods->xFileControl(r, op, arg); });
}
int WalFetch(sqlite3_file* f, sqlite3_int64 offset, int amount, void** out) {
  return AfterFlush(f,
                    [&](sqlite3_file* r) { return r->pMethods->xFetch(r, offset, amount, out); });
}

// io_methods with the base file's version (a method the base lacks is never called).
sqlite3_io_methods MethodsFor(File::Kind kind, int version) {
  sqlite3_io_methods m{};
  bool wal = kind == File::Kind::kWal;
  m.iVersion = version;
  m.xClose = Close;
  m.xRead = wal ? WalRead : Read;
  m.xWrite = wal ? WalWrite : Write;
  m.xTruncate = wal ? WalTruncate : Truncate;
  m.xSync = wal ? WalSync : Sync;
  m.xFileSize = wal ? WalFileSize : FileSize;
  m.xLock = Lock;
  m.xUnlock = Unlock;
  m.xCheckReservedLock = CheckReservedLock;
  m.xFileControl = wal ? WalFileControl : FileControl;
  m.xSectorSize = SectorSize;
  m.xDeviceCharacteristics = DeviceCharacteristics;
  m.xShmMap = ShmMap;
  m.xShmLock = ShmLock;
  m.xShmBarrier = ShmBarrier;
  m.xShmUnmap = ShmUnmap;
  m.xFetch = wal ? WalFetch : Fetch;
  m.xUnfetch = Unfetch;
  return m;
}

// One table per kind and base version (1 to 3), built once.
const sqlite3_io_methods* MethodsTable(File::Kind kind, int version) {
  static const auto tables = [] {
    std::map<std::pair<int, int>, sqlite3_io_methods> t;
    for (auto k : {File::Kind::kMainDb, File::Kind::kWal, File::Kind::kOther})
      for (int v = 1; v <= 3; ++v) t[{static_cast<int>(k), v}] = MethodsFor(k, v);
    return t;
  }();
  return &tables.at({static_cast<int>(kind), version});
}

size_t RealOffset() { return (sizeof(File) + 15) & ~size_t{15}; }

std::atomic<uint64_t> g_subjournals_opened{0};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* out, int flags, int* out_flags) {
  if (flags & SQLITE_OPEN_SUBJOURNAL) g_subjournals_opened.fetch_add(1, std::memory_order_relaxed);
  File* self = new (out) File();
  self->base.pMethods = nullptr;
  self->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(out) + RealOffset());
  std::memset(self->real, 0, static_cast<size_t>(g_base->szOsFile));
  int rc = g_base->xOpen(g_base, name, self->real, flags, out_flags);
  if (rc != SQLITE_OK || !self->real->pMethods) {
    if (rc == SQLITE_OK && !self->real->pMethods) rc = SQLITE_CANTOPEN;
    self->~File();
    out->pMethods = nullptr;
    return rc;
  }
  self->kind = (flags & SQLITE_OPEN_MAIN_DB) ? File::Kind::kMainDb
               : (flags & SQLITE_OPEN_WAL)   ? File::Kind::kWal
                                             : File::Kind::kOther;
  if (name && self->kind == File::Kind::kMainDb) self->db_path = name;
  if (name && self->kind == File::Kind::kWal) {
    self->db_path = name;
    if (self->db_path.size() > 4 && self->db_path.compare(self->db_path.size() - 4, 4, "-wal") == 0)
      self->db_path.resize(self->db_path.size() - 4);
    std::lock_guard registry(g_registry_mutex);
    g_wal_files.emplace(self->db_path, self);
  }
  int version = self->real->pMethods->iVersion;
  self->base.pMethods = MethodsTable(self->kind, version < 1 ? 1 : (version > 3 ? 3 : version));
  return SQLITE_OK;
}

// The rest of the VFS is the base's.
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_base->xDelete(g_base, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_base->xAccess(g_base, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_base->xFullPathname(g_base, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) { return g_base->xDlOpen(g_base, name); }
void DlError(sqlite3_vfs*, int n, char* out) { g_base->xDlError(g_base, n, out); }
void (*DlSym(sqlite3_vfs*, void* handle, const char* symbol))(void) {
  return g_base->xDlSym(g_base, handle, symbol);
}
void DlClose(sqlite3_vfs*, void* handle) { g_base->xDlClose(g_base, handle); }
int Randomness(sqlite3_vfs*, int n, char* out) { return g_base->xRandomness(g_base, n, out); }
int Sleep(sqlite3_vfs*, int us) { return g_base->xSleep(g_base, us); }
int CurrentTime(sqlite3_vfs*, double* out) { return g_base->xCurrentTime(g_base, out); }
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_base->xGetLastError ? g_base->xGetLastError(g_base, n, out) : 0;
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* out) {
  return g_base->xCurrentTimeInt64(g_base, out);
}

}  // namespace

uint64_t SubjournalFilesOpened() { return g_subjournals_opened.load(std::memory_order_relaxed); }

size_t WalBytesPending(const std::string& db_path) {
  std::lock_guard registry(g_registry_mutex);
  size_t total = 0;
  auto [begin, end] = g_wal_files.equal_range(db_path);
  for (auto it = begin; it != end; ++it) {
    std::lock_guard lock(it->second->mutex);
    total += it->second->pending.size();
  }
  return total;
}

const char* WalWriteBatchingVfs() {
  static std::once_flag once;
  static sqlite3_vfs vfs{};
  std::call_once(once, [] {
    sqlite3_initialize();
    g_base = sqlite3_vfs_find(nullptr);
    vfs.iVersion = 2;
    vfs.szOsFile = static_cast<int>(RealOffset()) + g_base->szOsFile;
    vfs.mxPathname = g_base->mxPathname;
    vfs.zName = kVfsName;
    vfs.xOpen = Open;
    vfs.xDelete = Delete;
    vfs.xAccess = Access;
    vfs.xFullPathname = FullPathname;
    vfs.xDlOpen = DlOpen;
    vfs.xDlError = DlError;
    vfs.xDlSym = DlSym;
    vfs.xDlClose = DlClose;
    vfs.xRandomness = Randomness;
    vfs.xSleep = Sleep;
    vfs.xCurrentTime = CurrentTime;
    vfs.xGetLastError = GetLastError;
    vfs.xCurrentTimeInt64 =
        g_base->iVersion >= 2 && g_base->xCurrentTimeInt64 ? CurrentTimeInt64 : nullptr;
    sqlite3_vfs_register(&vfs, /*makeDflt=*/0);
  });
  return kVfsName;
}

}  // namespace statehouse::storage::sqlite
