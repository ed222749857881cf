#include "sweep_plot.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "gnuplot.hpp"
#include "sweep_grid.hpp"

namespace embcomp::cli {

AucPlotData auc_plot_data(const std::string& model, const json& records) {
  AucPlotData plot;
  std::ostringstream dat;
  for (const json& r : records) {
    if (r["model"] != model || r["status"] != "ok") continue;
    plot.max_ratio = std::max(plot.max_ratio, r["ratio"].get<double>());
    if (is_baseline(r["method"])) plot.full_auc = r["test_auc"].get<double>();
    const std::string method = r["method"];
    if (std::find(plot.methods.begin(), plot.methods.end(), method) == plot.methods.end()) {
      if (!plot.methods.empty()) dat << "\n\n";
      plot.methods.push_back(method);
      dat << "# " << method << "\n";
    }
    dat << r["ratio"].get<double>() << ' ' << r["test_auc"].get<double>() << '\n';
  }
  plot.dat = dat.str();
  return plot;
}

std::string auc_plot_script(const std::string& base, const std::string& model, const json& data,
                            const AucPlotData& plot) {
  const std::string data_name =
      std::filesystem::path(data["name"].get<std::string>()).filename().string();
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,640 noenhanced\n"
     << "set output " << gnuplot_string(base + ".png") << "\n"
     << "set logscale x\nset grid\nset key outside right top\n"
     << "set xrange [0.8:" << plot.max_ratio * 2 << "]\n"
     << "set xlabel 'compression ratio (full fp32 table bytes / serving bytes)'\n"
     << "set ylabel 'test AUC'\n"
     << "set title "
     << gnuplot_string(model + " on " + data_name + " data: test AUC against compression") << "\n"
     << "plot ";
  for (std::size_t i = 0; i < plot.methods.size(); ++i) {
    gp << (i ? ", \\\n     " : "") << gnuplot_string(base + ".dat") << " index " << i
       << " using 1:2 with linespoints pointtype " << (i % 13) + 1 << " title "
       << gnuplot_string(plot.methods[i]);
  }
  if (plot.full_auc) {
    gp << ", \\\n     " << *plot.full_auc
       << " with lines dashtype 3 linecolor 'gray40' title 'full table (1x)'";
  }
  if (data.contains("bayes_test_auc")) {
    gp << ", \\\n     " << data["bayes_test_auc"].get<double>()
       << " with lines dashtype 2 linecolor 'black' title 'Bayes-optimal'";
  }
  gp << '\n';
  return gp.str();
}

std::string plot_model(const std::filesystem::path& out, const std::string& model, const json& data,
                       const json& records) {
  const AucPlotData plot = auc_plot_data(model, records);
  if (plot.methods.empty()) return "";
  const std::string base = "test_auc_" + model;
  write_text(out / (base + ".dat"), plot.dat);
  write_text(out / (base + ".gp"), auc_plot_script(base, model, data, plot));

  switch (run_gnuplot(out, base + ".gp")) {
    case GnuplotRun::rendered:
      return (out / (base + ".png")).string();
    case GnuplotRun::not_installed:
      std::printf("sweep: gnuplot is not installed (Debian: gnuplot-nox); the plot script is %s\n",
                  (out / (base + ".gp")).c_str());
      return "";
    case GnuplotRun::failed:
      break;
  }
  std::printf("sweep: gnuplot failed on %s\n", (out / (base + ".gp")).c_str());
  return "";
}

}  // namespace embcomp::cli
