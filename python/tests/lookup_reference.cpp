// The C++ side of python/tests/test_table.py's comparison: builds a table as embcomp.Table does
// and writes its lookup of the given ids, so the test can check the binding against the
// library called directly.
//
//   embcomp_python_lookup_reference SPEC RATIO SEED DIM N_0,N_1,... IDS_FILE OUT_FILE
//
// IDS_FILE: int64 ids [B x F] row-major, raw; OUT_FILE: the float32 lookup [B*F x DIM], raw.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "embcomp/registry.hpp"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::cerr << "usage: " << argv[0] << " SPEC RATIO SEED DIM N_0,N_1,... IDS_FILE OUT_FILE\n";
    return 2;
  }
  try {
    std::vector<embcomp::Index> cardinalities;
    std::stringstream list(argv[5]);
    for (std::string n; std::getline(list, n, ',');) cardinalities.push_back(std::stoll(n));
    const embcomp::Schema schema{cardinalities, std::stoll(argv[4])};
    const auto table = embcomp::make_table(
        argv[1],
        embcomp::TableArgs(schema, embcomp::Budget{std::stod(argv[2])}, std::stoull(argv[3])));
    std::ifstream in(argv[6], std::ios::binary);
    std::vector<embcomp::Index> ids;
    for (embcomp::Index id; in.read(reinterpret_cast<char*>(&id), sizeof id);) ids.push_back(id);
    const embcomp::Index fields = schema.num_fields();
    const embcomp::IdBatch batch{ids.data(), static_cast<embcomp::Index>(ids.size()) / fields,
                                 fields};
    std::vector<float> out(static_cast<std::size_t>(batch.size() * schema.dim));
    table->lookup(batch, {out.data(), batch.size(), schema.dim});
    std::ofstream(argv[7], std::ios::binary)
        .write(reinterpret_cast<const char*>(out.data()),
               static_cast<std::streamsize>(out.size() * sizeof(float)));
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
