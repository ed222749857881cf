// Writes the seed corpora of the fuzz targets from the library itself: small valid caches and
// checkpoints, text files and factory strings. Usage: fuzz_seed_generator <fuzz/corpus>.
// The directories are (re)written in place; every file is a few KB at most.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "training_checkpoint_entry.hpp"  // the training setups
#include "embcomp/data/cache.hpp"

namespace fs = std::filesystem;
using namespace embcomp;

namespace {

void put(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::printf("%s: %zu bytes\n", (dir / name).c_str(), bytes.size());
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string settings(std::uint8_t flags, std::uint8_t b1 = 0, std::uint8_t b2 = 0,
                     std::uint8_t b3 = 0, std::uint8_t b4 = 0) {
  return std::string{static_cast<char>(flags), static_cast<char>(b1), static_cast<char>(b2),
                     static_cast<char>(b3), static_cast<char>(b4)};
}

std::string criteo_row(int label, int seed) {
  std::string row = std::to_string(label);
  for (int i = 0; i < 13; ++i) row += "\t" + (i % 4 == 3 ? std::string() : std::to_string((seed * 7 + i) % 50));
  for (int i = 0; i < 26; ++i) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>((seed + 1) * 2654435761u + static_cast<unsigned>(i)));
    row += "\t" + (i % 9 == 8 ? std::string() : std::string(hex));
  }
  return row;
}

std::string avazu_row(int id, int click) {
  std::string row = std::to_string(id) + "," + std::to_string(click);
  row += ",14102100";
  for (int i = 1; i < 22; ++i) row += "," + std::to_string((id * 31 + i * 7) % 1000);
  return row;
}

void text_reader_seeds(const fs::path& dir) {
  put(dir, "criteo", settings(0) + criteo_row(0, 1) + "\n" + criteo_row(1, 2) + "\n" + criteo_row(0, 3) + "\n");
  std::string unlabeled = criteo_row(0, 4).substr(2);
  put(dir, "criteo_unlabeled_crlf", settings(4) + unlabeled + "\r\n" + unlabeled + "\r\nbroken\tline\r\n");
  std::string header = "id,click,hour";
  for (int i = 1; i < 22; ++i) header += ",c" + std::to_string(i);
  put(dir, "avazu_header", settings(2 << 3) + header + "\n" + avazu_row(1, 0) + "\n" + avazu_row(2, 1) + "\n" + avazu_row(3, 2));
  // schema: 6 columns, ';', roles label, dense, dense, cat, cat, ignored = 3,1,1,2,2,0
  const std::uint32_t roles = 3u | 1u << 2 | 1u << 4 | 2u << 6 | 2u << 8;
  put(dir, "schema_semicolon",
      settings(2 | 1 << 3, 5 | 2 << 4, static_cast<std::uint8_t>(roles), static_cast<std::uint8_t>(roles >> 8), 0) +
          "label;a;b;c;d;e\n1;0.5;;x;y;z\n0;3;1e3;;q;\n1;-2;nan;k;l;m\n");
  put(dir, "schema_strict_small_lines",
      settings(3 | 1 << 5 | 1 << 6, 20 | 1 << 4, 2 | 1 << 2, 0, 0) + "1.5,abc,x\n2,def,y\n");
}

void cache_seeds(const fs::path& dir) {
  const fs::path cache = fs::temp_directory_path() / "embcomp_fuzz_seed_cache";
  fs::remove_all(cache);
  {
    CacheWriter writer(cache.string(), 1, {{3, 4, false}, {2, 4, true}}, true, 1);
    const float dense[][1] = {{0.5f}, {0.0f}, {1.25f}};
    const Index ids[][2] = {{0, 1}, {2, 0}, {1, 1}};
    for (int r = 0; r < 3; ++r) {
      writer.append(static_cast<float>(r % 2), dense[r], ids[r]);
      writer.end_part("part" + std::to_string(r));
    }
    const std::uint64_t counts0[] = {1, 1, 1}, counts1[] = {1, 2};
    writer.write_counts(0, counts0);
    writer.write_counts(1, counts1);
    writer.finish();
  }
  const CacheReader reader(cache.string());
  const std::string meta = slurp(cache / "meta.bin");
  std::string pool;
  for (const CacheFile& f : reader.meta().files) pool += slurp(cache / f.name);
  auto input = [&](std::uint8_t flags) {
    std::string s{static_cast<char>(flags), static_cast<char>(meta.size() & 0xff),
                  static_cast<char>(meta.size() >> 8)};
    return s + meta + pool;
  };
  put(dir, "three_parts", input(0));
  put(dir, "three_parts_fixups", input(3));
  fs::remove_all(cache);
}

std::string saved(const EmbeddingTable& table) {
  std::ostringstream out(std::ios::out | std::ios::binary);
  table.save(out);
  return std::move(out).str();
}

void table_seeds(const fs::path& dir) {
  const Schema schema{{50, 7, 3}, 4};
  const std::vector<std::pair<std::string, double>> tables = {
      {"full", 1.0}, {"hash:tables=per_field,threshold=5", 2.0}, {"qr:op=concat", 2.0},
      {"mde", 2.0},  {"tt", 2.0},   {"dhe", 1.0},  {"robe", 4.0}, {"int8", 3.0},
      {"cafe", 1.0}, {"dedup", 2.0}, {"dpq", 1.5}, {"deeplight", 2.0}, {"cafe-ml", 1.0}};
  for (const auto& [spec, ratio] : tables) {
    try {
      const auto table = make_table(spec, TableArgs{schema, Budget{ratio}, 3});
      const std::string name = spec.substr(0, spec.find(':'));
      put(dir, name, saved(*table));
      if (name == "dpq" || name == "deeplight" || name == "cafe") put(dir, name + "_frozen", saved(*table->freeze()));
    } catch (const Error& e) {
      std::printf("skipped %s: %s\n", spec.c_str(), e.what());
    }
  }
}

void training_seeds(const fs::path& dir) {
  fuzz::SingleThread one_thread;
  const fs::path path = fs::temp_directory_path() / "embcomp_fuzz_seed_training.ckpt";
  for (const fuzz::TrainingSetup& setup : fuzz::training_setups()) {
    try {
      fuzz::TrainingObjects o = fuzz::build_training_objects(setup);
      TrainerConfig config = fuzz::training_config(setup);
      config.checkpoint_path = path.string();
      config.stop_after_evaluations = 1;
      Trainer trainer(config);
      (void)trainer.train(fuzz::training_data(), *o.table, *o.model);
      put(dir, setup.method, slurp(path));
      if (setup.method == "full") {  // a table checkpoint is refused with a clear error
        std::ostringstream out(std::ios::out | std::ios::binary);
        o.table->save(out);
        put(dir, "table_not_training", std::move(out).str());
      }
    } catch (const Error& e) {
      std::printf("skipped training %s: %s\n", setup.method.c_str(), e.what());
    }
  }
  fs::remove(path);
}

void factory_seeds(const fs::path& dir) {
  int n = 0;
  for (const MethodInfo& m : methods()) {
    put(dir, "key_" + m.key, m.key);
    std::string spec = m.key;
    for (std::size_t i = 0; i < m.options.size(); ++i) {
      spec += (i == 0 ? ":" : ",") + m.options[i].name + "=" + m.options[i].default_value;
    }
    if (!m.options.empty()) put(dir, "canonical_" + std::to_string(n++), spec);
  }
  put(dir, "qr_add", "qr:op=add,threshold=10");
  put(dir, "hash_modulo", "hash:hash=modulo,tables=per_field");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <fuzz/corpus>\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];
  text_reader_seeds(root / "text_reader");
  cache_seeds(root / "cache_loader");
  table_seeds(root / "table_checkpoint");
  training_seeds(root / "training_checkpoint");
  factory_seeds(root / "factory_spec");
  return 0;
}
