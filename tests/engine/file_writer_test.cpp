// FileWriter: outputs appear whole at their path or not at all, through symbolic links, keeping
// the permissions of the file they replace.

#include "engine/file_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace tfe {
namespace {

namespace fs = std::filesystem;

class FileWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("tfe-file-writer-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  static Result<void> write(const fs::path& p, const std::string& text) {
    auto w = FileWriter::create(p.string());
    if (!w) return w.error();
    w.value()->append(text);
    return w.value()->close();
  }
  static unsigned mode(const fs::path& p) {
    struct stat st {};
    EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
    return st.st_mode & 07777;
  }

  fs::path dir_;
};

TEST_F(FileWriterTest, AnUnclosedWriteLeavesThePathAsItWas) {
  const fs::path out = dir_ / "out.txt";
  ASSERT_TRUE(write(out, "first\n"));
  {
    auto w = FileWriter::create(out.string());
    ASSERT_TRUE(w);
    w.value()->append("second, abandoned\n");
  }
  EXPECT_EQ(read(out), "first\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1)
      << "a temporary file was left beside the output";
}

// out/scores.jsonl -> /data/run7/scores.jsonl: the run's file is written, the link stays a link.
TEST_F(FileWriterTest, ASymbolicLinkIsWrittenThrough) {
  fs::create_directories(dir_ / "data");
  const fs::path target = dir_ / "data" / "scores.jsonl";
  const fs::path link = dir_ / "scores.jsonl";
  ASSERT_TRUE(write(target, "old\n"));
  fs::create_symlink(target, link);
  ASSERT_TRUE(write(link, "new\n"));
  EXPECT_TRUE(fs::is_symlink(link)) << "the link was replaced by a file";
  EXPECT_EQ(read(target), "new\n");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_ / "data"), fs::directory_iterator()), 1);
}

TEST_F(FileWriterTest, ARewrittenFileKeepsItsPermissionsAndANewOneIsReadable) {
  const fs::path fresh = dir_ / "fresh.txt";
  ASSERT_TRUE(write(fresh, "x"));
  EXPECT_EQ(mode(fresh), 0644u);
  const fs::path private_file = dir_ / "private.txt";
  ASSERT_TRUE(write(private_file, "x"));
  ASSERT_EQ(::chmod(private_file.c_str(), 0600), 0);
  ASSERT_TRUE(write(private_file, "y"));
  EXPECT_EQ(mode(private_file), 0600u) << "rewriting a private file made it readable to all";
  EXPECT_EQ(read(private_file), "y");
}

// A report's or a profile's directory: checked before the work (nothing written, the files there
// as they were), then written whole.
TEST_F(FileWriterTest, AnOutputDirectoryIsCheckedWithoutWritingThenWrittenWhole) {
  const fs::path out = dir_ / "report" / "nested";
  ASSERT_TRUE(check_output_files(out.string(), {"a.json", "b.html"}));
  EXPECT_TRUE(fs::is_directory(out));
  EXPECT_TRUE(fs::is_empty(out)) << "the check left a file behind";

  ASSERT_TRUE(write_output_files(out.string(), {{"a.json", "{}"}, {"b.html", "<p>"}}));
  ASSERT_TRUE(check_output_files(out.string(), {"a.json", "b.html"}));
  EXPECT_EQ(read(out / "a.json"), "{}");
  EXPECT_EQ(read(out / "b.html"), "<p>");
  EXPECT_EQ(std::distance(fs::directory_iterator(out), fs::directory_iterator()), 2);
}

TEST_F(FileWriterTest, AnOutputDirectoryThatCannotBeMadeOrWrittenIsAnError) {
  ASSERT_TRUE(write(dir_ / "plain", "x"));
  auto r = check_output_files((dir_ / "plain" / "sub").string(), {"a.json"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::io);
  EXPECT_NE(r.error().message.find("cannot create directory " + (dir_ / "plain" / "sub").string()),
            std::string::npos)
      << r.error().message;
  EXPECT_FALSE(write_output_files((dir_ / "plain" / "sub").string(), {{"a.json", "{}"}}));

  // A file name that is a directory there: the check fails as the write would.
  fs::create_directories(dir_ / "out" / "a.json");
  r = check_output_files((dir_ / "out").string(), {"a.json"});
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("a.json"), std::string::npos) << r.error().message;
  EXPECT_FALSE(write_output_files((dir_ / "out").string(), {{"a.json", "{}"}}));
}

}  // namespace
}  // namespace tfe
