// Existence of the Bradley-Terry maximum-likelihood estimate.
//
// Zermelo (1929) and Ford (1957): with an edge loser -> winner for every decided comparison
// (both directions for a tie), the MLE is finite iff the graph is strongly connected. The
// strongly connected components come from Tarjan's algorithm (iterative, O(items +
// comparisons)); in the condensation, a component with no edge leaving it never lost to the
// rest (its strengths run to +infinity) and one with no edge entering it never won.
//
// With Gaussian priors on some items the condition becomes: every component's strengths are
// bounded above (it contains a prior item, or it lost to a component bounded above) and
// bounded below (it contains a prior item, or it beat a component bounded below). L2 and
// pseudo-comparisons cover every item, so the estimate always exists with them.
#include <algorithm>
#include <numeric>
#include <sstream>

#include "btfit/fit.h"
#include "btfit/options.h"

namespace btfit {

namespace {

struct Graph {
  std::vector<std::uint64_t> offset;  // n + 1
  std::vector<std::uint32_t> target;  // edges
};

Graph build_graph(const Comparisons& data, std::size_t n) {
  Graph g;
  g.offset.assign(n + 1, 0);
  auto for_each_edge = [&](auto&& emit) {
    for (std::size_t k = 0; k < data.size(); ++k) {
      if (data.w(k) <= 0.0) continue;
      const auto y2 = data.outcome2[k];
      if (y2 >= 1) emit(data.b[k], data.a[k]);  // a won (or tied): b -> a
      if (y2 <= 1) emit(data.a[k], data.b[k]);  // b won (or tied): a -> b
    }
  };
  for_each_edge([&](std::uint32_t from, std::uint32_t) { ++g.offset[from + 1]; });
  for (std::size_t i = 0; i < n; ++i) g.offset[i + 1] += g.offset[i];
  g.target.resize(g.offset[n]);
  std::vector<std::uint64_t> fill(g.offset.begin(), g.offset.end() - 1);
  for_each_edge([&](std::uint32_t from, std::uint32_t to) { g.target[fill[from]++] = to; });
  return g;
}

// Tarjan's strongly connected components, iterative. Returns the component of each node.
std::vector<std::uint32_t> strong_components(const Graph& g, std::size_t n, std::size_t* count) {
  constexpr std::uint32_t kUnvisited = 0xFFFFFFFFu;
  std::vector<std::uint32_t> index(n, kUnvisited), low(n, 0), component(n, kUnvisited);
  std::vector<std::uint32_t> stack;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> call;  // node, next edge
  std::vector<char> on_stack(n, 0);
  std::uint32_t next_index = 0;
  std::uint32_t n_components = 0;
  for (std::uint32_t root = 0; root < n; ++root) {
    if (index[root] != kUnvisited) continue;
    call.emplace_back(root, g.offset[root]);
    index[root] = low[root] = next_index++;
    stack.push_back(root);
    on_stack[root] = 1;
    while (!call.empty()) {
      auto& [v, e] = call.back();
      if (e < g.offset[v + 1]) {
        const std::uint32_t w = g.target[e++];
        if (index[w] == kUnvisited) {
          index[w] = low[w] = next_index++;
          stack.push_back(w);
          on_stack[w] = 1;
          call.emplace_back(w, g.offset[w]);
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      const std::uint32_t done = v;
      call.pop_back();
      if (!call.empty()) low[call.back().first] = std::min(low[call.back().first], low[done]);
      if (low[done] == index[done]) {
        while (true) {
          const std::uint32_t w = stack.back();
          stack.pop_back();
          on_stack[w] = 0;
          component[w] = n_components;
          if (w == done) break;
        }
        ++n_components;
      }
    }
  }
  *count = n_components;
  return component;
}

std::uint32_t find_root(std::vector<std::uint32_t>& parent, std::uint32_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

std::string describe_group(const ItemGroup& group, const std::vector<std::string>& names) {
  std::ostringstream out;
  constexpr std::size_t kShown = 5;
  if (group.items.size() == 1) {
    out << names[group.items[0]];
  } else {
    out << "group of " << group.items.size() << " items: ";
    for (std::size_t i = 0; i < group.items.size() && i < kShown; ++i)
      out << (i ? ", " : "") << names[group.items[i]];
    if (group.items.size() > kShown) out << ", and " << group.items.size() - kShown << " more";
  }
  out << " (" << group.wins << " wins, " << group.losses << " losses against the rest)";
  return out.str();
}

// Reachability from one item, propagated along the comparisons as they are stored (bit 1:
// reached from the root; bit 2: reaches the root), pass after pass until nothing changes; a
// mark travels along many edges within one pass, so random graphs settle in a few passes.
// Items marked 3 form the root's strongly connected component. Returns false (undecided)
// after kMaxPasses; the caller then analyses the whole graph.
bool root_component_by_propagation(const Comparisons& data, std::uint32_t root, std::vector<std::uint8_t>* marks,
                                   std::size_t* component_size) {
  constexpr int kMaxPasses = 12;
  const std::size_t n = data.n_items();
  std::vector<std::uint8_t>& mark = *marks;
  mark.assign(n, 0);
  mark[root] = 3;
  std::size_t complete = 1;  // items with both marks
  const std::uint32_t* a = data.a.data();
  const std::uint32_t* b = data.b.data();
  const std::uint8_t* y2 = data.outcome2.data();
  const double* weight = data.has_weights() ? data.weight.data() : nullptr;
  // Edge from -> to: a mark "reached" moves forward, a mark "reaches" backward.
  auto edge = [&](std::uint32_t from, std::uint32_t to, bool& changed) {
    const std::uint8_t f = mark[from], t = mark[to];
    const std::uint8_t new_t = t | (f & 1), new_f = f | (t & 2);
    if (new_t != t) {
      mark[to] = new_t;
      changed = true;
      if (new_t == 3) ++complete;
    }
    if (new_f != f) {
      mark[from] = new_f;
      changed = true;
      if (new_f == 3) ++complete;
    }
  };
  for (int pass = 0; pass < kMaxPasses; ++pass) {
    bool changed = false;
    for (std::size_t k = 0; k < data.size(); ++k) {
      if (weight != nullptr && !(weight[k] > 0.0)) continue;
      if (y2[k] >= 1) edge(b[k], a[k], changed);  // a won (or tied): b -> a
      if (y2[k] <= 1) edge(a[k], b[k], changed);  // b won (or tied): a -> b
    }
    if (complete == n || !changed) {
      *component_size = complete;
      return true;
    }
  }
  return false;
}

std::string strongly_connected_message(std::size_t n) {
  return "The comparison graph is strongly connected (" + std::to_string(n) +
         " items): every item won and lost against the rest, so finite maximum-likelihood strengths exist.\n";
}


// The analysis of the whole graph: `data` holds the comparisons (their item_names may be
// empty), n the number of items, names their names.
BradleyTerryDiagnosis diagnose_graph(const Comparisons& data, std::size_t n, const std::vector<std::string>& names,
                                     const BradleyTerryOptions& options) {
  BradleyTerryDiagnosis d;
  const Graph graph = build_graph(data, n);
  std::size_t n_components = 0;
  const auto component = strong_components(graph, n, &n_components);
  d.n_strong_components = n_components;
  d.strongly_connected = n_components == 1;

  // Items that never play.
  std::vector<char> played(n, 0);
  for (std::size_t k = 0; k < data.size(); ++k) {
    if (data.w(k) <= 0.0) continue;
    played[data.a[k]] = played[data.b[k]] = 1;
  }
  for (std::uint32_t i = 0; i < n; ++i)
    if (!played[i]) d.unplayed.push_back(i);

  // Weakly connected groups (union-find over the comparisons).
  std::vector<std::uint32_t> parent(n);
  std::iota(parent.begin(), parent.end(), 0u);
  for (std::size_t k = 0; k < data.size(); ++k) {
    if (data.w(k) <= 0.0) continue;
    const auto ra = find_root(parent, data.a[k]);
    const auto rb = find_root(parent, data.b[k]);
    if (ra != rb) parent[ra] = rb;
  }
  std::vector<std::int64_t> group_of_root(n, -1);
  std::vector<std::uint32_t> group(n);
  std::size_t n_groups = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = find_root(parent, i);
    if (group_of_root[r] < 0) group_of_root[r] = static_cast<std::int64_t>(n_groups++);
    group[i] = static_cast<std::uint32_t>(group_of_root[r]);
  }
  d.n_groups = n_groups;

  // Condensation: which components have edges in and out, and their records vs the rest.
  std::vector<char> has_out(n_components, 0), has_in(n_components, 0);
  std::vector<double> wins(n_components, 0.0), losses(n_components, 0.0);
  for (std::size_t k = 0; k < data.size(); ++k) {
    const double w = data.w(k);
    if (w <= 0.0) continue;
    const auto ca = component[data.a[k]], cb = component[data.b[k]];
    if (ca == cb) continue;
    const double y = data.y(k);
    wins[ca] += w * y;
    losses[ca] += w * (1 - y);
    wins[cb] += w * (1 - y);
    losses[cb] += w * y;
    if (y > 0) { has_out[cb] = 1; has_in[ca] = 1; }
    if (y < 1) { has_out[ca] = 1; has_in[cb] = 1; }
  }
  std::vector<std::vector<std::uint32_t>> members(n_components);
  for (std::uint32_t i = 0; i < n; ++i) members[component[i]].push_back(i);

  // Which items are covered by a penalty or prior.
  const bool all_covered = options.l2 > 0.0 || options.pseudo > 0.0;
  std::vector<char> pinned(n_components, 0);
  bool any_prior = false;
  if (!options.prior.empty()) {
    std::unordered_map<std::string, std::uint32_t> id;
    for (std::uint32_t i = 0; i < n; ++i) id.emplace(names[i], i);
    for (const auto& term : options.prior) {
      auto it = id.find(term.name);
      if (it == id.end()) continue;
      pinned[component[it->second]] = 1;
      any_prior = true;
    }
  }
  if (all_covered || options.firth) {
    d.estimable = true;  // Firth's penalty is finite on a connected design (Kosmidis and Firth 2021)
  } else if (!any_prior) {
    d.estimable = d.strongly_connected;
  } else {
    // Bounded above: pinned, or lost to (has an edge into) a component bounded above.
    // Bounded below: pinned, or beat (has an edge from) a component bounded below.
    std::vector<std::vector<std::uint32_t>> succ(n_components), pred(n_components);
    for (std::uint32_t u = 0; u < n; ++u)
      for (auto e = graph.offset[u]; e < graph.offset[u + 1]; ++e) {
        const auto cu = component[u], cv = component[graph.target[e]];
        if (cu != cv) { succ[cu].push_back(cv); pred[cv].push_back(cu); }
      }
    auto propagate = [&](const std::vector<std::vector<std::uint32_t>>& next) {
      std::vector<char> bounded(pinned);
      std::vector<std::uint32_t> queue;
      for (std::uint32_t c = 0; c < n_components; ++c)
        if (bounded[c]) queue.push_back(c);
      while (!queue.empty()) {
        const auto c = queue.back();
        queue.pop_back();
        for (auto o : next[c])
          if (!bounded[o]) { bounded[o] = 1; queue.push_back(o); }
      }
      return bounded;
    };
    const auto upper = propagate(pred);  // u -> v with v bounded above makes u bounded above
    const auto lower = propagate(succ);  // u -> v (v beat u) with u bounded below: v bounded below
    d.estimable = true;
    for (std::uint32_t c = 0; c < n_components; ++c)
      if (!upper[c] || !lower[c]) d.estimable = false;
  }

  // Report sinks and sources of the condensation (within connected groups), and the groups.
  for (std::uint32_t c = 0; c < n_components; ++c) {
    if (!has_out[c] && !has_in[c]) continue;  // a whole group on its own: reported below
    ItemGroup g{members[c], wins[c], losses[c]};
    if (!has_out[c]) d.never_lost.push_back(g);
    if (!has_in[c]) d.never_won.push_back(g);
  }
  if (n_groups > 1) {
    std::vector<ItemGroup> groups(n_groups);
    for (std::uint32_t i = 0; i < n; ++i) groups[group[i]].items.push_back(i);
    std::sort(groups.begin(), groups.end(),
              [](const ItemGroup& x, const ItemGroup& y) { return x.items.size() > y.items.size(); });
    d.groups = std::move(groups);
  }

  std::ostringstream out;
  constexpr std::size_t kListed = 10;
  if (d.strongly_connected) {
    out << strongly_connected_message(n);
  } else {
    out << "The comparison graph is not strongly connected: " << n_components
        << " strongly connected components among " << n << " items (Zermelo 1929; Ford 1957).\n";
    if (!d.never_lost.empty()) {
      out << "Never lost to the rest (maximum-likelihood strength +infinity): " << d.never_lost.size()
          << (d.never_lost.size() == 1 ? " group\n" : " groups\n");
      for (std::size_t i = 0; i < d.never_lost.size() && i < kListed; ++i)
        out << "  " << describe_group(d.never_lost[i], names) << "\n";
      if (d.never_lost.size() > kListed) out << "  ... and " << d.never_lost.size() - kListed << " more\n";
    }
    if (!d.never_won.empty()) {
      out << "Never won against the rest (maximum-likelihood strength -infinity): " << d.never_won.size()
          << (d.never_won.size() == 1 ? " group\n" : " groups\n");
      for (std::size_t i = 0; i < d.never_won.size() && i < kListed; ++i)
        out << "  " << describe_group(d.never_won[i], names) << "\n";
      if (d.never_won.size() > kListed) out << "  ... and " << d.never_won.size() - kListed << " more\n";
    }
    if (!d.unplayed.empty()) {
      out << d.unplayed.size() << " item(s) with no comparison of positive weight:";
      for (std::size_t i = 0; i < d.unplayed.size() && i < kListed; ++i) out << " " << names[d.unplayed[i]];
      out << (d.unplayed.size() > kListed ? " ...\n" : "\n");
    }
  }
  if (n_groups > 1) {
    out << "The comparison graph falls apart into " << n_groups
        << " groups that never meet: strengths in different groups are not comparable";
    out << (all_covered || any_prior ? " (a penalty or prior only sets their levels by assumption).\n" : ".\n");
    for (std::size_t i = 0; i < d.groups.size() && i < kListed; ++i) {
      const auto& g = d.groups[i];
      out << "  group " << i + 1 << ": " << g.items.size() << " item(s): ";
      for (std::size_t j = 0; j < g.items.size() && j < 5; ++j) out << (j ? ", " : "") << names[g.items[j]];
      out << (g.items.size() > 5 ? ", ...\n" : "\n");
    }
    if (d.groups.size() > kListed) out << "  ... and " << d.groups.size() - kListed << " more groups\n";
  }
  if (!d.strongly_connected) {
    if (d.estimable) {
      out << "The "
          << (all_covered ? (options.l2 > 0 ? "L2 penalty keeps" : "pseudo-comparisons keep")
                          : (options.firth ? "Firth penalty (--firth) keeps" : "priors keep"))
          << " every strength finite.\n";
    } else {
      out << "No finite estimate exists without a penalty. Options that make it finite: "
             "--pseudo 1 (one virtual win and one virtual loss per item against a virtual item of strength 0; "
             "Newman 2023), --l2 LAMBDA (a ridge penalty on all strengths), --prior FILE "
             "(Gaussian priors covering these items), or --firth (Firth's bias-reducing Jeffreys-prior penalty).\n";
    }
  }
  d.message = out.str();
  return d;
}

}  // namespace

BradleyTerryDiagnosis diagnose_bradley_terry(const Comparisons& data, const BradleyTerryOptions& options) {
  const std::size_t n = data.n_items();
  if (n == 0) {
    BradleyTerryDiagnosis d;
    d.message = "there are no items";
    return d;
  }
  // The root: the winner of the first comparison of positive weight, which has a win and is
  // in the largest component on any data set where one component dominates.
  std::size_t first = 0;
  while (first < data.size() && !(data.w(first) > 0.0)) ++first;
  std::vector<std::uint8_t> mark;
  std::size_t root_size = 0;
  if (n < 2 || first == data.size() ||
      !root_component_by_propagation(data, data.outcome2[first] == 0 ? data.b[first] : data.a[first], &mark,
                                     &root_size))
    return diagnose_graph(data, n, data.item_names, options);
  if (root_size == n) {
    // One strongly connected component: one group, every item played, the estimate exists
    // with or without penalties and priors.
    BradleyTerryDiagnosis d;
    d.n_strong_components = 1;
    d.strongly_connected = true;
    d.n_groups = 1;
    d.estimable = true;
    d.message = strongly_connected_message(n);
    return d;
  }
  // The root's component C is strongly connected: the graph has the strongly connected
  // components, the groups, the records against the rest and the unplayed items of the graph
  // made of the comparisons that touch an item outside C plus a cycle through C (edges
  // inside C only make C strongly connected, which the cycle does too, and never count in
  // the records between components). That graph is small when C is most of the items.
  Comparisons reduced;
  const bool weighted = data.has_weights();
  auto append = [&](std::uint32_t a, std::uint32_t b, std::uint8_t y2, double w) {
    reduced.a.push_back(a);
    reduced.b.push_back(b);
    reduced.outcome2.push_back(y2);
    if (weighted) reduced.weight.push_back(w);
  };
  for (std::size_t k = 0; k < data.size(); ++k)
    if ((mark[data.a[k]] != 3 || mark[data.b[k]] != 3) && data.w(k) > 0.0)
      append(data.a[k], data.b[k], data.outcome2[k], data.w(k));
  std::uint32_t previous = 0, first_in_c = 0;
  bool any = false;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (mark[i] != 3) continue;
    if (any)
      append(i, previous, 2, 1.0);  // previous -> i: i beat previous
    else
      first_in_c = i;
    previous = i;
    any = true;
  }
  if (root_size > 1) append(first_in_c, previous, 2, 1.0);  // close the cycle
  return diagnose_graph(reduced, n, data.item_names, options);
}

}  // namespace btfit
