#include "runs/archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/error.h"

namespace statehouse::runs {
namespace {

namespace fs = std::filesystem;

// Builds test archives with libarchive's writer, hostile ones included.
class TarWriter {
 public:
  explicit TarWriter(const std::string& path, bool gzip = true) : a_(archive_write_new()) {
    if (gzip) archive_write_add_filter_gzip(a_);
    archive_write_set_format_pax_restricted(a_);
    archive_write_set_bytes_in_last_block(a_, 1);
    EXPECT_EQ(archive_write_open_filename(a_, path.c_str()), ARCHIVE_OK);
  }
  ~TarWriter() { Close(); }

  TarWriter& File(const std::string& name, std::string_view data, int mode = 0644) {
    Header(name, AE_IFREG, mode, data.size());
    EXPECT_EQ(archive_write_data(a_, data.data(), data.size()),
              static_cast<la_ssize_t>(data.size()));
    return *this;
  }
  TarWriter& Zeros(const std::string& name, uint64_t size) {
    Header(name, AE_IFREG, 0644, size);
    std::string chunk(1 << 20, '\0');
    for (uint64_t left = size; left > 0;) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      EXPECT_EQ(archive_write_data(a_, chunk.data(), n), static_cast<la_ssize_t>(n));
      left -= n;
    }
    return *this;
  }
  TarWriter& Dir(const std::string& name, int mode = 0755) {
    Header(name, AE_IFDIR, mode, 0);
    return *this;
  }
  TarWriter& Symlink(const std::string& name, const std::string& target) {
    Header(name, AE_IFLNK, 0777, 0,
           [&](archive_entry* e) { archive_entry_copy_symlink(e, target.c_str()); });
    return *this;
  }
  TarWriter& Hardlink(const std::string& name, const std::string& target) {
    Header(name, AE_IFREG, 0644, 0,
           [&](archive_entry* e) { archive_entry_copy_hardlink(e, target.c_str()); });
    return *this;
  }
  TarWriter& Special(const std::string& name, unsigned type) {
    Header(name, type, 0644, 0, [](archive_entry* e) { archive_entry_set_rdev(e, makedev(1, 3)); });
    return *this;
  }
  void Close() {
    if (!a_) return;
    EXPECT_EQ(archive_write_close(a_), ARCHIVE_OK);
    archive_write_free(a_);
    a_ = nullptr;
  }

 private:
  template <typename Fn = void (*)(archive_entry*)>
  void Header(
      const std::string& name, unsigned type, int mode, uint64_t size,
      Fn extra = [](archive_entry*) {}) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, mode);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, 1700000000, 0);
    extra(e);
    EXPECT_GE(archive_write_header(a_, e), ARCHIVE_WARN) << archive_error_string(a_);
    archive_entry_free(e);
  }

  archive* a_;
};

void WriteFile(const std::string& path, std::string_view data, int mode = 0644) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << data;
  ASSERT_EQ(::chmod(path.c_str(), mode), 0);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every path under dir -> a description of its type, permissions and content or target.
std::map<std::string, std::string> Snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string rel = fs::relative(e.path(), dir).string();
    struct stat st;
    EXPECT_EQ(::lstat(e.path().c_str(), &st), 0);
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    if (S_ISLNK(st.st_mode)) {
      out[rel] = "link -> " + fs::read_symlink(e.path()).string();
    } else if (S_ISDIR(st.st_mode)) {
      out[rel] = std::string("dir ") + mode;
    } else {
      out[rel] = std::string("file ") + mode + " " + ReadFile(e.path());
    }
  }
  return out;
}

// Entry names as stored in an archive, in order.
std::vector<std::string> ArchiveNames(const std::string& path) {
  std::vector<std::string> names;
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_all(a);
  EXPECT_EQ(archive_read_open_filename(a, path.c_str(), 10240), ARCHIVE_OK);
  archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) names.push_back(archive_entry_pathname(e));
  archive_read_free(a);
  return names;
}

class ArchiveTest : public testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = testing::TempDir() + "statehouse_archive_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Path(const std::string& rel) const { return root_ + "/" + rel; }
  std::string MakeDir(const std::string& rel) const {
    fs::create_directories(Path(rel));
    return Path(rel);
  }

  // Expects ExtractArchive to refuse with kInvalidArgument mentioning `want`, leaving the
  // extraction directory empty.
  void ExpectRefused(const std::string& archive, const std::string& want,
                     const ExtractLimits& limits = {}) {
    std::string out = MakeDir("out" + std::to_string(++outs_));
    try {
      ExtractArchive(archive, out, limits);
      ADD_FAILURE() << "accepted; expected a refusal mentioning: " << want;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
    EXPECT_TRUE(fs::is_empty(out)) << "left behind in " << out;
  }

  std::string root_;
  int outs_ = 0;
};

TEST_F(ArchiveTest, PackThenExtractRoundTrips) {
  std::string src = MakeDir("src");
  std::string random(200000, '\0');
  std::mt19937 gen(42);
  for (char& c : random) c = static_cast<char>(gen());
  const std::string main_tf = "resource \"null_resource\" \"x\" {}\n";
  const std::string run_sh = "#!/bin/sh\necho hi\n";
  const std::string private_txt("a\0b", 3);
  WriteFile(src + "/main.tf", main_tf);
  WriteFile(src + "/scripts/run.sh", run_sh, 0755);
  WriteFile(src + "/nested/deep/private.txt", private_txt, 0600);
  WriteFile(src + "/blob.bin", random);
  fs::create_directories(src + "/empty");
  ASSERT_EQ(::chmod((src + "/empty").c_str(), 0750), 0);
  fs::create_symlink("main.tf", src + "/link.tf");
  fs::create_symlink("../nested", src + "/scripts/up");
  fs::create_symlink("missing", src + "/dangling");
  struct timespec times[2] = {{0, UTIME_OMIT}, {1600000000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (src + "/main.tf").c_str(), times, 0), 0);

  std::vector<std::pair<uint64_t, uint64_t>> calls;
  std::string tgz = Path("config.tar.gz");
  PackResult packed = PackDirectory(
      src, tgz, [&](uint64_t done, uint64_t total) { calls.emplace_back(done, total); });
  for (const auto& e : fs::directory_iterator(root_))
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << "temp file left";

  std::vector<std::string> names = ArchiveNames(tgz);
  EXPECT_EQ(names, (std::vector<std::string>{"blob.bin", "dangling", "empty/", "link.tf", "main.tf",
                                             "nested/", "nested/deep/", "nested/deep/private.txt",
                                             "scripts/", "scripts/run.sh", "scripts/up"}));
  EXPECT_EQ(packed.entries, names.size());
  const uint64_t content_bytes =
      random.size() + main_tf.size() + run_sh.size() + private_txt.size();
  EXPECT_EQ(packed.bytes, content_bytes);
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.front(), std::make_pair(uint64_t{0}, content_bytes));
  EXPECT_EQ(calls.back(), std::make_pair(content_bytes, content_bytes));

  std::string out = MakeDir("out");
  ExtractResult extracted = ExtractArchive(tgz, out);
  EXPECT_EQ(extracted.entries, names.size());
  EXPECT_EQ(extracted.bytes, content_bytes);
  EXPECT_EQ(Snapshot(out), Snapshot(src));
  struct stat st;
  ASSERT_EQ(::stat((out + "/main.tf").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
}

TEST_F(ArchiveTest, PackSkipsGitAndTerraformButKeepsModules) {
  std::string src = MakeDir("src");
  WriteFile(src + "/main.tf", "x");
  WriteFile(src + "/.git/HEAD", "ref");
  WriteFile(src + "/.terraform/providers/p/bin", "big");
  WriteFile(src + "/.terraform/modules/m/main.tf", "module");
  WriteFile(src + "/sub/.terraform/terraform.tfstate", "state");
  WriteFile(src + "/sub/.gitkeep", "");
  std::string tgz = Path("c.tgz");
  PackDirectory(src, tgz);
  // As in go-slug, .terraform's own directory entries are dropped, its modules kept.
  EXPECT_EQ(ArchiveNames(tgz),
            (std::vector<std::string>{".terraform/modules/m/", ".terraform/modules/m/main.tf",
                                      "main.tf", "sub/", "sub/.gitkeep"}));
}

TEST_F(ArchiveTest, PackAppliesTerraformIgnore) {
  std::string src = MakeDir("src");
  WriteFile(src + "/.terraformignore",
            "# a comment line\n"
            "  *.log  \n"
            "!keep.log\n"
            "\n"
            "tmp/\n"
            "/root-only.txt\n"
            "docs/**/draft.md\n"
            "secret?.txt\n"
            "build/\n"
            "!build/keep.txt\n"
            "data-[0-9].csv\n");
  const std::vector<std::string> tree = {"main.tf",
                                         "# a comment line",
                                         "a.log",
                                         "keep.log",
                                         "sub/b.log",
                                         "sub/keep.log",
                                         "tmp/x",
                                         "sub/tmp/y",
                                         "other/tmp",
                                         "root-only.txt",
                                         "sub/root-only.txt",
                                         "docs/draft.md",
                                         "docs/a/b/draft.md",
                                         "docs/readme.md",
                                         "secret1.txt",
                                         "secret12.txt",
                                         "build/out.bin",
                                         "build/keep.txt",
                                         "data-1.csv",
                                         "data-x.csv",
                                         ".git/config"};
  for (const std::string& f : tree) WriteFile(src + "/" + f, f);
  std::string tgz = Path("c.tgz");
  PackDirectory(src, tgz);
  std::vector<std::string> names = ArchiveNames(tgz);
  std::set<std::string> files;
  for (const std::string& n : names)
    if (n.back() != '/') files.insert(n);
  // Kept: a file named like a comment (comments match nothing), build/keep.txt (re-included
  // below an ignored directory), other/tmp ("tmp/" matches directories only) and
  // sub/root-only.txt ("/root-only.txt" is anchored).
  const std::set<std::string> kept = {"# a comment line", ".terraformignore", "build/keep.txt",
                                      "data-x.csv",       "docs/readme.md",   "keep.log",
                                      "main.tf",          "other/tmp",        "secret12.txt",
                                      "sub/keep.log",     "sub/root-only.txt"};
  EXPECT_EQ(files, kept);
  std::set<std::string> all(names.begin(), names.end());
  EXPECT_FALSE(all.count("build/")) << "an ignored directory keeps no entry of its own";
  EXPECT_FALSE(all.count("tmp/"));
  EXPECT_TRUE(all.count("docs/"));
}

TEST_F(ArchiveTest, PackRefusesSymlinkLeavingTheDirectory) {
  std::string src = MakeDir("src");
  WriteFile(src + "/main.tf", "x");
  fs::create_symlink("../../etc/passwd", src + "/escape");
  std::string tgz = Path("c.tgz");
  try {
    PackDirectory(src, tgz);
    ADD_FAILURE() << "packed an escaping symlink";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("escape"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(tgz));
  EXPECT_EQ(std::distance(fs::directory_iterator(root_), fs::directory_iterator()), 1)
      << "temp file left behind";
}

TEST_F(ArchiveTest, ExtractsPlainTarNormalisesNamesAndDropsSpecialModeBits) {
  std::string tar = Path("plain.tar");
  TarWriter(tar, /*gzip=*/false)
      .Dir("./", 0700)
      .File("./a/./b//c.txt", "hello")
      .File("suid", "x", 04755)
      .Dir("open", 0777)
      .Dir("closed", 0)
      .File("closed/inner", "y", 0400)
      .Hardlink("again", "./suid");
  std::string out = MakeDir("out");
  ExtractResult r = ExtractArchive(tar, out);
  EXPECT_EQ(r.entries, 6u);
  EXPECT_EQ(r.bytes, 7u);
  EXPECT_EQ(Snapshot(out), (std::map<std::string, std::string>{{"a", "dir 0755"},
                                                               {"a/b", "dir 0755"},
                                                               {"a/b/c.txt", "file 0644 hello"},
                                                               {"again", "file 0755 x"},
                                                               {"closed", "dir 0700"},
                                                               {"closed/inner", "file 0400 y"},
                                                               {"open", "dir 0755"},
                                                               {"suid", "file 0755 x"}}));
  struct stat st;
  ASSERT_EQ(::stat((out + "/again").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(ArchiveTest, RefusesAbsolutePath) {
  std::string outside = MakeDir("outside");
  std::string a = Path("a.tgz");
  TarWriter(a).File("ok.txt", "fine").File(outside + "/x", "pwned");
  ExpectRefused(a, "absolute path");
  EXPECT_TRUE(fs::is_empty(outside));
}

TEST_F(ArchiveTest, RefusesDotDotTraversal) {
  std::string a = Path("a.tgz");
  TarWriter(a).File("ok.txt", "fine").File("../x", "pwned");
  ExpectRefused(a, "archive entry '../x': path leaves the directory");
  std::string b = Path("b.tgz");
  TarWriter(b).Dir("a").File("a/../../x", "pwned");
  ExpectRefused(b, "archive entry 'a/../../x': path leaves the directory");
  std::string c = Path("c.tgz");
  TarWriter(c).File("a/../b", "not outside, still refused");
  ExpectRefused(c, "'..' component");
  EXPECT_FALSE(fs::exists(Path("x")));
}

TEST_F(ArchiveTest, RefusesSymlinksLeavingTheDirectory) {
  std::string a = Path("a.tgz");
  TarWriter(a).File("ok.txt", "fine").Symlink("etc", "/etc");
  ExpectRefused(a, "archive entry 'etc': symlink target '/etc' is absolute");
  std::string b = Path("b.tgz");
  TarWriter(b).Dir("sub").Symlink("sub/up", "../..");
  ExpectRefused(b, "symlink target '../..' leaves the directory");
  // Each link stays inside on its own; through one another they climb out. Both orders.
  std::string c = Path("c.tgz");
  TarWriter(c).Symlink("sub/up", "..").Symlink("sub/esc", "up/..");
  ExpectRefused(c, "archive entry 'sub/esc': symlink target 'up/..' has '..' after");
  std::string d = Path("d.tgz");
  TarWriter(d).Symlink("sub/esc", "up/..").Symlink("sub/up", "..");
  ExpectRefused(d, "archive entry 'sub/esc': symlink target 'up/..' has '..' after");
}

TEST_F(ArchiveTest, RefusesWritingThroughAnExtractedSymlink) {
  std::string outside = MakeDir("outside");
  std::string a = Path("a.tgz");
  TarWriter(a).Symlink("link", outside).File("link/file", "pwned");
  ExpectRefused(a, "archive entry 'link'");
  EXPECT_TRUE(fs::is_empty(outside));
  // A link that is harmless by itself still may not be written through.
  std::string b = Path("b.tgz");
  TarWriter(b).Dir("real").Symlink("link", "real").File("link/file", "sneaky");
  ExpectRefused(b, "archive entry 'link/file': path passes through the symlink 'link'");
  std::string c = Path("c.tgz");
  TarWriter(c).Symlink("link", "real").Dir("link/sub");
  ExpectRefused(c, "path passes through the symlink 'link'");
}

TEST_F(ArchiveTest, RefusesBadHardLinks) {
  std::string a = Path("a.tgz");
  TarWriter(a).File("ok.txt", "fine").Hardlink("h", "../../etc/passwd");
  ExpectRefused(a, "archive entry 'h': hard link target '../../etc/passwd' is outside");
  std::string b = Path("b.tgz");
  TarWriter(b).Hardlink("h", "/etc/passwd");
  ExpectRefused(b, "is outside the directory");
  std::string c = Path("c.tgz");
  TarWriter(c).Hardlink("h", "later.txt").File("later.txt", "x");
  ExpectRefused(c, "is not an earlier extracted file");
  std::string d = Path("d.tgz");
  TarWriter(d).Symlink("s", "ok.txt").File("ok.txt", "x").Hardlink("h", "s");
  ExpectRefused(d, "is not an earlier extracted file");
}

TEST_F(ArchiveTest, RefusesDevicesFifosAndDuplicates) {
  std::string a = Path("a.tgz");
  TarWriter(a).File("ok.txt", "fine").Special("null", AE_IFCHR);
  ExpectRefused(a, "archive entry 'null': device entries are not allowed");
  std::string b = Path("b.tgz");
  TarWriter(b).Special("blk", AE_IFBLK);
  ExpectRefused(b, "device entries are not allowed");
  std::string c = Path("c.tgz");
  TarWriter(c).File("ok.txt", "fine").Special("pipe", AE_IFIFO);
  ExpectRefused(c, "archive entry 'pipe': fifo entries are not allowed");
  std::string d = Path("d.tgz");
  TarWriter(d).File("x", "one").Symlink("x", "/etc/passwd");
  ExpectRefused(d, "archive entry 'x': duplicate entry");
}

TEST_F(ArchiveTest, RefusesTooManyEntries) {
  std::string a = Path("a.tgz");
  {
    TarWriter w(a);
    for (int i = 0; i < 11; ++i) w.File("f" + std::to_string(i), "x");
  }
  ExtractLimits limits;
  limits.max_entries = 10;
  ExpectRefused(a, "archive entry 'f10': more than 10 entries", limits);
  limits.max_entries = 11;
  EXPECT_EQ(ExtractArchive(a, MakeDir("fits"), limits).entries, 11u);
}

TEST_F(ArchiveTest, StopsDecompressionBombsEarly) {
  // 64 MiB of zeros compress to ~64 KiB, a ratio of ~1000.
  std::string bomb = Path("bomb.tgz");
  TarWriter(bomb).File("ok.txt", "fine").Zeros("zeros", 64ull << 20);
  EXPECT_LT(fs::file_size(bomb), 1u << 20);
  auto start = std::chrono::steady_clock::now();
  ExpectRefused(bomb, "archive entry 'zeros': archive expands to more than");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));

  // Cut to a quarter, the bomb still announces 64 MiB but only ~16 MiB can be inflated. With
  // limits above 16 MiB and below 64 MiB, a check made only while streaming would run into the
  // truncation first; the refusal must come from the header, before anything is written.
  std::string cut = Path("cut.tgz");
  fs::copy_file(bomb, cut);
  fs::resize_file(cut, fs::file_size(bomb) / 4);
  ExtractLimits limits;
  limits.max_ratio = 32.0 * (1 << 20) / static_cast<double>(fs::file_size(cut));
  ExpectRefused(cut, "archive entry 'zeros': archive expands to more than", limits);
  limits = {};
  limits.max_ratio = 1e12;
  limits.max_total_bytes = 32 << 20;
  ExpectRefused(cut, "archive entry 'zeros': archive expands to more than the limit of 33554432",
                limits);

  limits = {};
  limits.max_total_bytes = 1 << 20;
  std::string many = Path("many.tgz");
  TarWriter(many).Zeros("a", 600 << 10).Zeros("b", 600 << 10);
  ExpectRefused(many, "archive entry 'b': archive expands to more than the limit of 1048576",
                limits);
  limits = {};
  limits.max_entry_bytes = 100 << 10;
  ExpectRefused(many, "archive entry 'a': file is larger than the limit of 102400", limits);

  // Repetitive but small: far above the ratio, yet below the 1 MiB the ratio always allows.
  std::string text = Path("text.tgz");
  TarWriter(text).File("big.tf", std::string(900 << 10, '#'));
  EXPECT_GT(900.0 * 1024 / static_cast<double>(fs::file_size(text)), 200.0);
  EXPECT_EQ(ExtractArchive(text, MakeDir("text")).bytes, 900u << 10);
}

TEST_F(ArchiveTest, RefusesTruncatedAndNonArchives) {
  std::string src = MakeDir("src");
  std::string random(100000, '\0');
  std::mt19937 gen(7);
  for (char& c : random) c = static_cast<char>(gen());
  WriteFile(src + "/a.bin", random);
  WriteFile(src + "/b.bin", random);
  std::string tgz = Path("c.tgz");
  PackDirectory(src, tgz);
  fs::resize_file(tgz, fs::file_size(tgz) * 3 / 4);
  ExpectRefused(tgz, "corrupt or truncated");

  std::string text = Path("notes.txt");
  WriteFile(text, "terraform { required_version = \">= 1.5\" }\n");
  ExpectRefused(text, "not a tar or tar.gz archive");
  std::string empty = Path("empty.tgz");
  WriteFile(empty, "");
  ExpectRefused(empty, "not a tar or tar.gz archive");
  std::string zip = Path("a.zip");
  WriteFile(zip, std::string("PK\x03\x04", 4) + std::string(100, 'z'));
  ExpectRefused(zip, "not a tar or tar.gz archive");
}

TEST_F(ArchiveTest, RequiresAnEmptyDirectory) {
  std::string a = Path("a.tgz");
  TarWriter(a).File("x", "y");
  std::string out = MakeDir("out");
  WriteFile(out + "/keep", "mine");
  try {
    ExtractArchive(a, out);
    ADD_FAILURE() << "extracted into a non-empty directory";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInternal);
  }
  EXPECT_EQ(ReadFile(out + "/keep"), "mine");
  EXPECT_FALSE(fs::exists(out + "/x"));
}

}  // namespace
}  // namespace statehouse::runs
