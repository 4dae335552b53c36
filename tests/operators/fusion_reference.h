#pragma once
// A naive reference of the fusion forward pass: plain loops, double accumulation, tensors looked
// up by name. Written from docs/fusion.md, independent of operators/fusion_forward.cpp.

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/snapshot.h"
#include "operators/fusion_model.h"

namespace tfe::test {

using Vector = std::vector<double>;

struct Reference {
  const FusionModel& model;

  std::vector<double> tensor(const std::string& name) const {
    auto ref = model.weights.find(name);
    if (!ref) ref = model.stats.find(name);
    if (!ref) throw std::runtime_error("reference: no tensor " + name);
    const auto& set = model.weights.find(name) ? model.weights : model.stats;
    auto v = set.view(*ref);
    return std::vector<double>(v.begin(), v.end());
  }
  uint32_t cols(const std::string& name) const { return model.weights.find(name)->cols; }
  bool has(const std::string& name) const { return model.weights.find(name).has_value(); }

  // W [rows][cols] x.
  Vector matvec(const std::string& name, const Vector& x) const {
    const auto w = tensor(name);
    const std::size_t c = x.size(), r = w.size() / c;
    Vector y(r, 0.0);
    for (std::size_t i = 0; i < r; ++i)
      for (std::size_t j = 0; j < c; ++j) y[i] += w[i * c + j] * x[j];
    return y;
  }
  static Vector add(Vector a, const Vector& b) {
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
    return a;
  }
  static Vector relu(Vector a) {
    for (double& v : a) v = std::max(v, 0.0);
    return a;
  }
  static void l2(double* v, std::size_t n) {
    double ss = 0;
    for (std::size_t i = 0; i < n; ++i) ss += v[i] * v[i];
    if (ss > 0)
      for (std::size_t i = 0; i < n; ++i) v[i] /= std::sqrt(ss);
  }

  Vector prepare(std::size_t m, std::span<const float> raw) const {
    const ModelModality& mod = model.schema.modalities[m];
    Vector x(raw.begin(), raw.end());
    if (mod.kind == ModalityKind::vitals) {
      const auto mean = tensor("stats." + mod.name + ".mean");
      const auto sd = tensor("stats." + mod.name + ".std");
      for (std::size_t g = 0; g < x.size(); g += 7) {
        const double count = raw[g + 6];
        for (std::size_t i = g; i < g + 6; ++i) x[i] = count > 0 ? (raw[i] - mean[i]) / sd[i] : 0;
        x[g + 6] = (std::log1p(count > 0 ? count : 0.0) - mean[g + 6]) / sd[g + 6];
      }
    } else if (mod.kind == ModalityKind::text) {
      if (mod.text_hash_dim > 0) {
        const auto idf = tensor("stats." + mod.name + ".idf");
        for (std::size_t i = 0; i < mod.text_hash_dim; ++i) x[mod.dim + i] *= idf[i];
      }
      if (mod.l2_normalize) {
        l2(x.data(), mod.dim);
        l2(x.data() + mod.dim, mod.text_hash_dim);
      }
    } else if (mod.l2_normalize) {
      l2(x.data(), x.size());
    }
    return x;
  }

  Vector timing(std::size_t m, int64_t age_ms) const {
    const std::string& n = model.schema.modalities[m].name;
    const double tau = std::log1p(std::max<int64_t>(age_ms, 0) / 1000.0);
    const auto w = tensor("time." + n + ".w"), b = tensor("time." + n + ".b");
    Vector te{w[0] * tau + b[0]};
    for (std::size_t i = 1; i < w.size(); ++i) te.push_back(std::sin(w[i] * tau + b[i]));
    if (model.arch.sinusoidal) {
      const double half = model.arch.sinusoidal_dim / 2;
      for (std::size_t j = 0; j < half; ++j) {
        const double f = std::pow(100.0, -static_cast<double>(j) / half);
        te.push_back(std::sin(f * tau));
        te.push_back(std::cos(f * tau));
      }
    }
    return te;
  }

  // MLP named prefix.l<first>.., prefix.out on an activated input.
  double mlp(const std::string& prefix, Vector h, std::size_t first) const {
    for (std::size_t i = first; i <= model.arch.hidden.size(); ++i) {
      const std::string l = prefix + ".l" + std::to_string(i);
      h = relu(add(matvec(l + ".w", h), tensor(l + ".b")));
    }
    return matvec(prefix + ".out.w", h)[0] + tensor(prefix + ".out.b")[0];
  }

  struct Token {
    std::size_t m;
    int64_t age_ms;
    std::span<const float> raw;
  };

  std::vector<Token> tokens(const Snapshot& s) const {
    std::vector<Token> t;
    for (std::size_t m = 0; m < model.schema.modalities.size(); ++m) {
      const ModalitySnapshot& ms = s.modalities[m];
      if (!ms.present) continue;
      const bool hist = model.arch.strategy == Strategy::attention && model.arch.history_k > 1 &&
                        model.schema.modalities[m].kind != ModalityKind::vitals;
      if (hist) {
        for (std::size_t j = 0; j < std::min<std::size_t>(ms.history.size(), model.arch.history_k);
             ++j)
          t.push_back({m, ms.history[j].age_ms, ms.history[j].features});
      } else {
        t.push_back({m, ms.age_ms, ms.features});
      }
    }
    return t;
  }

  // Logit and weights of a raw-form snapshot.
  double forward(const Snapshot& s, std::array<double, kMaxModalities>& weight) const {
    weight.fill(0.0);
    const auto toks = tokens(s);
    const Strategy st = model.arch.strategy;
    auto name = [&](std::size_t m) { return model.schema.modalities[m].name; };
    if (st == Strategy::early || st == Strategy::intermediate) {
      const std::string p = st == Strategy::early ? "early." : "inter.";
      Vector sum = tensor(p + "bias");
      std::vector<Vector> contrib;
      for (const Token& t : toks) {
        Vector x = prepare(t.m, t.raw);
        Vector f;
        if (st == Strategy::early) {
          f = matvec(p + name(t.m) + ".x.w", x);
        } else {
          const std::string e = p + name(t.m);
          Vector h = relu(add(matvec(e + ".enc1.w", x), tensor(e + ".enc1.b")));
          Vector z = add(matvec(e + ".enc2.w", h), tensor(e + ".enc2.b"));
          f = matvec(e + ".z.w", z);
        }
        Vector c = add(add(f, tensor(p + name(t.m) + ".presence")),
                       matvec(p + name(t.m) + ".time.w", timing(t.m, t.age_ms)));
        sum = add(sum, c);
        contrib.push_back(c);
      }
      const double logit = mlp("head", relu(sum), 2);
      double total = 0;
      for (std::size_t i = 0; i < toks.size(); ++i) {
        Vector without = sum;
        for (std::size_t j = 0; j < without.size(); ++j) without[j] -= contrib[i][j];
        weight[toks[i].m] = std::fabs(logit - mlp("head", relu(without), 2));
        total += weight[toks[i].m];
      }
      for (const Token& t : toks) {
        weight[t.m] =
            toks.size() == 1 ? 1.0 : (total > 0 ? weight[t.m] / total : 1.0 / toks.size());
      }
      return logit;
    }
    if (st == Strategy::late) {
      std::vector<double> logits, gates;
      for (const Token& t : toks) {
        const std::string p = "late." + name(t.m);
        Vector a = add(add(matvec(p + ".x.w", prepare(t.m, t.raw)), tensor(p + ".bias")),
                       matvec(p + ".time.w", timing(t.m, t.age_ms)));
        logits.push_back(mlp(p + ".head", relu(a), 2));
        const double decay = tensor(p + ".gate.decay")[0];
        gates.push_back(tensor(p + ".gate.a")[0] -
                        std::log1p(std::exp(decay)) * std::log1p(t.age_ms / 1000.0));
      }
      double mx = -1e300, z = 0, logit = 0;
      for (double g : gates) mx = std::max(mx, g);
      for (double& g : gates) z += (g = std::exp(g - mx));
      for (std::size_t i = 0; i < toks.size(); ++i) {
        weight[toks[i].m] += gates[i] / z;
        logit += gates[i] / z * logits[i];
      }
      return logit;
    }
    // attention
    const std::size_t d = model.arch.d_model, H = model.arch.heads, dh = d / H;
    std::vector<Vector> tv;
    for (const Token& t : toks) {
      const std::string p = "attn." + name(t.m);
      tv.push_back(add(add(matvec(p + ".proj.w", prepare(t.m, t.raw)),
                           matvec(p + ".time.w", timing(t.m, t.age_ms))),
                       tensor(p + ".embed")));
    }
    const auto q = tensor("attn.query");
    Vector ctx(d, 0.0);
    const auto V = tensor("attn.value.w");
    for (std::size_t h = 0; h < H && !tv.empty(); ++h) {
      std::vector<double> s;
      for (const Vector& t : tv) {
        const Vector k = matvec("attn.key.w", t);
        double dot = 0;
        for (std::size_t i = h * dh; i < (h + 1) * dh; ++i) dot += q[i] * k[i];
        s.push_back(dot / std::sqrt(static_cast<double>(dh)));
      }
      double mx = -1e300, z = 0;
      for (double v : s) mx = std::max(mx, v);
      for (double& v : s) z += (v = std::exp(v - mx));
      Vector mix(d, 0.0);
      for (std::size_t i = 0; i < tv.size(); ++i) {
        s[i] /= z;
        weight[toks[i].m] += s[i] / H;
        for (std::size_t j = 0; j < d; ++j) mix[j] += s[i] * tv[i][j];
      }
      for (std::size_t i = h * dh; i < (h + 1) * dh; ++i)
        for (std::size_t j = 0; j < d; ++j) ctx[i] += V[i * d + j] * mix[j];
    }
    return mlp("head", ctx, 1);
  }
};

}  // namespace tfe::test
