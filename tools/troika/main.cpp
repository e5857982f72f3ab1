// The `troika` command: everything lives in src/cli.
#include "cli/cli.h"

int main(int argc, char** argv) { return troika::cli::run(argc, argv); }
