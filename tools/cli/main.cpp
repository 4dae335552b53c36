#include <CLI/CLI.hpp>

int main(int argc, char** argv) {
  CLI::App app{"tfe: streaming temporal fusion of asynchronous clinical modalities"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
