// Objects (object.get, keys, remove, filter, union, union_n, subset), json.filter,
// json.remove, json.patch, arrays (array.concat, slice, reverse) and sets (intersection,
// union).
#include <algorithm>
#include <functional>
#include <map>

#include "policy/builtins_internal.h"

namespace statehouse::policy::internal {

namespace {

using Args = std::vector<Value>;

// --- objects ---

// The value at a path of keys through objects, arrays (by index) and sets (by member).
std::optional<Value> Lookup(const Value& root, const Array& path) {
  Value cur = root;
  for (const auto& key : path) {
    auto next = cur.Index(key);
    if (!next) return std::nullopt;
    cur = std::move(*next);
  }
  return cur;
}

std::optional<Value> ObjectGet(const Args& args, BuiltinContext&) {
  ObjectArg("object.get", args, 1);
  const Value& key = args[1];
  if (!key.IsArray()) {
    if (const Value* v = args[0].Find(key)) return *v;
    return args[2];
  }
  if (key.AsArray().empty()) return args[0];
  auto found = Lookup(args[0], key.AsArray());
  return found ? *found : args[2];
}

std::optional<Value> ObjectKeys(const Args& args, BuiltinContext&) {
  const Object& obj = ObjectArg("object.keys", args, 1);
  Set keys;
  keys.reserve(obj.size());
  for (const auto& [k, v] : obj) keys.push_back(k);
  return Value::FromSortedSet(std::move(keys));  // object keys are sorted and unique
}

// The keys named by an array, a set, or an object's keys, as a sorted set.
Set KeysParam(std::string_view fn, const Value& v) {
  switch (v.kind()) {
    case Kind::kArray:
      return Value::MakeSet(v.AsArray()).AsSet();
    case Kind::kSet:
      return v.AsSet();
    case Kind::kObject: {
      Set keys;
      for (const auto& [k, val] : v.AsObject()) keys.push_back(k);
      return keys;
    }
    default:
      FailType(fn, 2, v, {"object", "set", "array"});
  }
}

std::optional<Value> ObjectRemove(const Args& args, BuiltinContext&) {
  const Object& obj = ObjectArg("object.remove", args, 1);
  Set keys = KeysParam("object.remove", args[1]);
  std::vector<ObjectEntry> out;
  for (const auto& entry : obj) {
    if (!std::binary_search(keys.begin(), keys.end(), entry.first, ValueLess())) {
      out.push_back(entry);
    }
  }
  return Value::FromSortedObject(std::move(out));
}

std::optional<Value> ObjectFilter(const Args& args, BuiltinContext&) {
  const Object& obj = ObjectArg("object.filter", args, 1);
  Set keys = KeysParam("object.filter", args[1]);
  std::vector<ObjectEntry> out;
  for (const auto& entry : obj) {
    if (std::binary_search(keys.begin(), keys.end(), entry.first, ValueLess())) {
      out.push_back(entry);
    }
  }
  return Value::FromSortedObject(std::move(out));
}

// b's entries win; where both values are objects they are merged recursively.
Value MergeWithOverwrite(const Value& a, const Value& b) {
  const Object& x = a.AsObject();
  const Object& y = b.AsObject();
  std::vector<ObjectEntry> out;
  out.reserve(x.size() + y.size());
  size_t i = 0;
  size_t j = 0;
  while (i < x.size() || j < y.size()) {
    int c = i == x.size() ? 1 : j == y.size() ? -1 : x[i].first.Compare(y[j].first);
    if (c < 0) {
      out.push_back(x[i++]);
    } else if (c > 0) {
      out.push_back(y[j++]);
    } else {
      if (x[i].second.IsObject() && y[j].second.IsObject()) {
        out.emplace_back(x[i].first, MergeWithOverwrite(x[i].second, y[j].second));
      } else {
        out.push_back(y[j]);
      }
      ++i;
      ++j;
    }
  }
  return Value::FromSortedObject(std::move(out));
}

std::optional<Value> ObjectUnion(const Args& args, BuiltinContext& ctx) {
  const Object& a = ObjectArg("object.union", args, 1);
  const Object& b = ObjectArg("object.union", args, 2);
  if (a.empty()) return args[1];
  if (b.empty()) return args[0];
  ChargeElements(ctx, "object.union", 2 * (a.size() + b.size()));
  return MergeWithOverwrite(args[0], args[1]);
}

std::optional<Value> ObjectUnionN(const Args& args, BuiltinContext& ctx) {
  const Array& arr = ArrayArg("object.union_n", args, 1);
  size_t total = 0;
  for (const auto& item : arr) {
    if (!item.IsObject()) FailElement("object.union_n", 1, args[0], item, {"object"});
    total += item.AsObject().size();
  }
  ChargeElements(ctx, "object.union_n", 2 * total);
  Value result = Value::EmptyObject();
  for (const auto& item : arr) result = MergeWithOverwrite(result, item);
  return result;
}

bool SetSubset(const Set& super, const Set& sub) {
  return std::includes(super.begin(), super.end(), sub.begin(), sub.end(), ValueLess());
}

// sub appears as a contiguous run in super.
bool ArraySubset(const Array& super, const Array& sub) {
  if (sub.empty()) return true;
  if (sub.size() > super.size()) return false;
  for (size_t start = 0; start + sub.size() <= super.size(); ++start) {
    if (std::equal(sub.begin(), sub.end(), super.begin() + static_cast<ptrdiff_t>(start))) {
      return true;
    }
  }
  return false;
}

bool ObjectSubset(const Object& super, const Object& sub);

bool ValueSubset(const Value& super, const Value& sub) {
  if (super.IsObject() && sub.IsObject()) return ObjectSubset(super.AsObject(), sub.AsObject());
  if (super.IsSet() && sub.IsSet()) return SetSubset(super.AsSet(), sub.AsSet());
  if (super.IsArray() && sub.IsArray()) return ArraySubset(super.AsArray(), sub.AsArray());
  return super == sub;
}

bool ObjectSubset(const Object& super, const Object& sub) {
  for (const auto& [k, v] : sub) {
    auto it =
        std::lower_bound(super.begin(), super.end(), k,
                         [](const ObjectEntry& e, const Value& key) { return e.first < key; });
    if (it == super.end() || it->first != k || !ValueSubset(it->second, v)) return false;
  }
  return true;
}

std::optional<Value> ObjectSubsetFn(const Args& args, BuiltinContext&) {
  const Value& super = args[0];
  const Value& sub = args[1];
  if (super.IsObject() && sub.IsObject()) {
    return Value::Bool(ObjectSubset(super.AsObject(), sub.AsObject()));
  }
  if (super.IsSet() && sub.IsSet()) return Value::Bool(SetSubset(super.AsSet(), sub.AsSet()));
  if (super.IsArray() && sub.IsArray()) {
    return Value::Bool(ArraySubset(super.AsArray(), sub.AsArray()));
  }
  if (super.IsArray() && sub.IsSet()) {
    Value as_set = Value::MakeSet(super.AsArray());
    return Value::Bool(SetSubset(as_set.AsSet(), sub.AsSet()));
  }
  Fail("object.subset", "both arguments object.subset must be of the same type or array and set");
}

// --- json.filter / json.remove ---

struct PathNode {
  bool leaf = false;
  std::map<Value, PathNode, ValueLess> children;
};

// "a/b/c" (JSON pointer escapes ~0 ~1 undone) or ["a", "b", "c"].
Array ParsePath(std::string_view fn, const Value& path) {
  Array segments;
  if (path.IsString()) {
    std::string_view s = path.AsString();
    if (s.empty()) return segments;
    while (!s.empty() && s.front() == '/') s.remove_prefix(1);
    size_t start = 0;
    for (;;) {
      size_t slash = s.find('/', start);
      std::string part(s.substr(
          start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      std::string unescaped;
      for (size_t i = 0; i < part.size(); ++i) {
        if (part[i] == '~' && i + 1 < part.size() && (part[i + 1] == '0' || part[i + 1] == '1')) {
          unescaped += part[i + 1] == '1' ? '/' : '~';
          ++i;
        } else {
          unescaped += part[i];
        }
      }
      segments.push_back(Value::String(std::move(unescaped)));
      if (slash == std::string_view::npos) break;
      start = slash + 1;
    }
    return segments;
  }
  if (path.IsArray()) return path.AsArray();
  Fail(fn, std::string("operand 2 must be one of {set, array} containing string paths or array "
                       "of path segments but got ") +
               TypeName(path));
}

PathNode BuildPathTree(std::string_view fn, const Value& paths) {
  if (!paths.IsArray() && !paths.IsSet()) FailType(fn, 2, paths, {"set", "array"});
  PathNode root;
  const auto& items = paths.IsArray() ? paths.AsArray() : paths.AsSet();
  for (const auto& p : items) {
    Array segments = ParsePath(fn, p);
    PathNode* node = &root;
    for (const auto& seg : segments) {
      if (node->leaf) break;  // a shorter path already takes everything below
      node = &node->children[seg];
    }
    node->leaf = true;
    node->children.clear();
  }
  return root;
}

// The child for an array index: path segments from strings are strings ("0").
const PathNode* IndexChild(const PathNode& node, size_t i) {
  auto it = node.children.find(Value::String(std::to_string(i)));
  if (it != node.children.end()) return &it->second;
  it = node.children.find(Value::Int(static_cast<int64_t>(i)));
  return it == node.children.end() ? nullptr : &it->second;
}

Value FilterValue(const Value& v, const PathNode& node) {
  if (node.leaf) return v;
  switch (v.kind()) {
    case Kind::kObject: {
      std::vector<ObjectEntry> out;
      for (const auto& [k, val] : v.AsObject()) {
        auto it = node.children.find(k);
        if (it != node.children.end()) out.emplace_back(k, FilterValue(val, it->second));
      }
      return Value::FromSortedObject(std::move(out));
    }
    case Kind::kArray: {
      Array out;
      const Array& arr = v.AsArray();
      for (size_t i = 0; i < arr.size(); ++i) {
        if (const PathNode* child = IndexChild(node, i)) out.push_back(FilterValue(arr[i], *child));
      }
      return Value::MakeArray(std::move(out));
    }
    case Kind::kSet: {
      std::vector<Value> out;
      for (const auto& item : v.AsSet()) {
        auto it = node.children.find(item);
        if (it != node.children.end()) out.push_back(FilterValue(item, it->second));
      }
      return Value::MakeSet(std::move(out));
    }
    default:
      return v;
  }
}

// nullopt: removed.
std::optional<Value> RemoveValue(const Value& v, const PathNode* node) {
  if (!node) return v;
  if (node->leaf) return std::nullopt;
  switch (v.kind()) {
    case Kind::kObject: {
      std::vector<ObjectEntry> out;
      for (const auto& [k, val] : v.AsObject()) {
        auto it = node->children.find(k);
        auto kept = RemoveValue(val, it == node->children.end() ? nullptr : &it->second);
        if (kept) out.emplace_back(k, std::move(*kept));
      }
      return Value::FromSortedObject(std::move(out));
    }
    case Kind::kArray: {
      Array out;
      const Array& arr = v.AsArray();
      for (size_t i = 0; i < arr.size(); ++i) {
        auto kept = RemoveValue(arr[i], IndexChild(*node, i));
        if (kept) out.push_back(std::move(*kept));
      }
      return Value::MakeArray(std::move(out));
    }
    case Kind::kSet: {
      std::vector<Value> out;
      for (const auto& item : v.AsSet()) {
        auto it = node->children.find(item);
        auto kept = RemoveValue(item, it == node->children.end() ? nullptr : &it->second);
        if (kept) out.push_back(std::move(*kept));
      }
      return Value::MakeSet(std::move(out));
    }
    default:
      return v;
  }
}

std::optional<Value> JsonFilter(const Args& args, BuiltinContext&) {
  ObjectArg("json.filter", args, 1);
  PathNode root = BuildPathTree("json.filter", args[1]);
  return FilterValue(args[0], root);
}

std::optional<Value> JsonRemove(const Args& args, BuiltinContext&) {
  ObjectArg("json.remove", args, 1);
  PathNode root = BuildPathTree("json.remove", args[1]);
  auto out = RemoveValue(args[0], &root);
  return out ? *out : Value::EmptyObject();
}

// --- json.patch (RFC 6902) ---

constexpr std::string_view kPatch = "json.patch";

Array PointerPath(const Value& path) {
  if (path.IsString()) {
    const std::string& s = path.AsString();
    if (!s.empty() && s[0] != '/') Fail(kPatch, "invalid JSON pointer \"" + s + "\"");
    return ParsePath(kPatch, path);
  }
  if (path.IsArray()) return path.AsArray();
  Fail(kPatch, std::string("path must be a string or an array but got ") + TypeName(path));
}

std::optional<size_t> ArrayIndex(const Value& seg, size_t size, bool allow_end) {
  int64_t idx = -1;
  if (seg.IsNumber()) {
    auto i = seg.AsNumber().AsInt();
    if (i) idx = *i;
  } else if (seg.IsString()) {
    const std::string& s = seg.AsString();
    if (allow_end && s == "-") return size;
    if (s.empty() || s.size() > 18 || (s.size() > 1 && s[0] == '0') ||
        !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return std::nullopt;
    }
    idx = std::stoll(s);
  }
  if (idx < 0 || static_cast<size_t>(idx) > size ||
      (!allow_end && static_cast<size_t>(idx) == size)) {
    return std::nullopt;
  }
  return static_cast<size_t>(idx);
}

// Rebuilds `doc` with the container at path[0..n-1] replaced by edit(container, last key).
using Edit = std::function<Value(const Value& container, const Value& key)>;

Value EditAt(const Value& doc, const Array& path, size_t depth, const Edit& edit) {
  if (depth + 1 == path.size()) return edit(doc, path[depth]);
  const Value& key = path[depth];
  if (doc.IsObject()) {
    std::vector<ObjectEntry> out = doc.AsObject().Entries();
    auto it = std::lower_bound(out.begin(), out.end(), key,
                               [](const ObjectEntry& e, const Value& k) { return e.first < k; });
    if (it == out.end() || it->first != key) Fail(kPatch, "path not found");
    it->second = EditAt(it->second, path, depth + 1, edit);
    return Value::FromSortedObject(std::move(out));
  }
  if (doc.IsArray()) {
    Array out = doc.AsArray();
    auto idx = ArrayIndex(key, out.size(), false);
    if (!idx) Fail(kPatch, "path not found");
    out[*idx] = EditAt(out[*idx], path, depth + 1, edit);
    return Value::MakeArray(std::move(out));
  }
  Fail(kPatch, "path not found");
}

Value PatchAdd(const Value& doc, const Array& path, const Value& value) {
  if (path.empty()) return value;
  return EditAt(doc, path, 0, [&](const Value& c, const Value& key) -> Value {
    if (c.IsObject()) {
      std::vector<ObjectEntry> entries = c.AsObject().Entries();
      entries.emplace_back(key, value);
      return Value::MakeObject(std::move(entries));
    }
    if (c.IsArray()) {
      Array out = c.AsArray();
      auto idx = ArrayIndex(key, out.size(), true);
      if (!idx) Fail(kPatch, "array index out of range");
      out.insert(out.begin() + static_cast<ptrdiff_t>(*idx), value);
      return Value::MakeArray(std::move(out));
    }
    if (c.IsSet()) {
      std::vector<Value> out = c.AsSet();
      out.push_back(value);
      return Value::MakeSet(std::move(out));
    }
    Fail(kPatch, "path not found");
  });
}

Value PatchRemove(const Value& doc, const Array& path) {
  if (path.empty()) Fail(kPatch, "cannot remove the root document");
  return EditAt(doc, path, 0, [&](const Value& c, const Value& key) -> Value {
    if (c.IsObject()) {
      std::vector<ObjectEntry> out;
      bool found = false;
      for (const auto& e : c.AsObject()) {
        if (e.first == key) {
          found = true;
        } else {
          out.push_back(e);
        }
      }
      if (!found) Fail(kPatch, "path not found");
      return Value::FromSortedObject(std::move(out));
    }
    if (c.IsArray()) {
      Array out = c.AsArray();
      auto idx = ArrayIndex(key, out.size(), false);
      if (!idx) Fail(kPatch, "array index out of range");
      out.erase(out.begin() + static_cast<ptrdiff_t>(*idx));
      return Value::MakeArray(std::move(out));
    }
    if (c.IsSet()) {
      if (!c.SetContains(key)) Fail(kPatch, "path not found");
      std::vector<Value> out;
      for (const auto& item : c.AsSet()) {
        if (item != key) out.push_back(item);
      }
      return Value::FromSortedSet(std::move(out));
    }
    Fail(kPatch, "path not found");
  });
}

// JSON pointer lookup: array elements are addressed by decimal strings too.
Value PatchGet(const Value& doc, const Array& path) {
  Value cur = doc;
  for (const auto& key : path) {
    std::optional<Value> next;
    if (cur.IsArray()) {
      auto idx = ArrayIndex(key, cur.AsArray().size(), false);
      if (idx) next = cur.AsArray()[*idx];
    } else {
      next = cur.Index(key);
    }
    if (!next) Fail(kPatch, "path not found");
    cur = std::move(*next);
  }
  return cur;
}

const Value& OpField(const Value& op, std::string_view name) {
  const Value* v = op.Find(name);
  if (!v) Fail(kPatch, "operation is missing \"" + std::string(name) + "\"");
  return *v;
}

std::optional<Value> JsonPatch(const Args& args, BuiltinContext& ctx) {
  Value doc = args[0];
  const Array& ops = ArrayArg(kPatch, args, 2);
  for (const auto& op : ops) {
    if (!op.IsObject()) FailElement(kPatch, 2, args[1], op, {"object"});
    const Value& name = OpField(op, "op");
    if (!name.IsString()) Fail(kPatch, "operation \"op\" must be a string");
    const std::string& kind = name.AsString();
    Array path = PointerPath(OpField(op, "path"));
    if (kind == "add") {
      doc = PatchAdd(doc, path, OpField(op, "value"));
    } else if (kind == "remove") {
      doc = PatchRemove(doc, path);
    } else if (kind == "replace") {
      PatchGet(doc, path);
      doc = path.empty() ? OpField(op, "value")
                         : PatchAdd(PatchRemove(doc, path), path, OpField(op, "value"));
    } else if (kind == "move") {
      Array from = PointerPath(OpField(op, "from"));
      Value v = PatchGet(doc, from);
      doc = PatchAdd(PatchRemove(doc, from), path, v);
    } else if (kind == "copy") {
      Array from = PointerPath(OpField(op, "from"));
      doc = PatchAdd(doc, path, PatchGet(doc, from));
    } else if (kind == "test") {
      if (PatchGet(doc, path) != OpField(op, "value")) Fail(kPatch, "test operation failed");
    } else {
      Fail(kPatch, "unknown operation \"" + kind + "\"");
    }
  }
  ChargeElements(ctx, kPatch, ops.size());
  return doc;
}

// --- arrays ---

std::optional<Value> ArrayConcat(const Args& args, BuiltinContext& ctx) {
  const Array& a = ArrayArg("array.concat", args, 1);
  const Array& b = ArrayArg("array.concat", args, 2);
  if (a.empty()) return args[1];
  if (b.empty()) return args[0];
  ChargeElements(ctx, "array.concat", a.size() + b.size());
  Array out;
  out.reserve(a.size() + b.size());
  out.insert(out.end(), a.begin(), a.end());
  out.insert(out.end(), b.begin(), b.end());
  return Value::MakeArray(std::move(out));
}

std::optional<Value> ArraySlice(const Args& args, BuiltinContext& ctx) {
  const Array& arr = ArrayArg("array.slice", args, 1);
  int64_t start = IntArg("array.slice", args, 2);
  int64_t stop = IntArg("array.slice", args, 3);
  const int64_t len = static_cast<int64_t>(arr.size());
  stop = std::clamp<int64_t>(stop, 0, len);
  start = std::clamp<int64_t>(start, 0, stop);
  ChargeElements(ctx, "array.slice", static_cast<size_t>(stop - start));
  return Value::MakeArray(Array(arr.begin() + start, arr.begin() + stop));
}

std::optional<Value> ArrayReverse(const Args& args, BuiltinContext& ctx) {
  const Array& arr = ArrayArg("array.reverse", args, 1);
  ChargeElements(ctx, "array.reverse", arr.size());
  return Value::MakeArray(Array(arr.rbegin(), arr.rend()));
}

// --- sets ---

const Set& SetOfSets(std::string_view fn, const Args& args) {
  const Set& sets = SetArg(fn, args, 1);
  for (const auto& s : sets) {
    if (!s.IsSet()) FailElement(fn, 1, args[0], s, {"set"});
  }
  return sets;
}

std::optional<Value> Intersection(const Args& args, BuiltinContext&) {
  const Set& sets = SetOfSets("intersection", args);
  if (sets.empty()) return Value::EmptySet();
  Set acc = sets[0].AsSet();
  for (size_t i = 1; i < sets.size() && !acc.empty(); ++i) {
    Set next;
    const Set& s = sets[i].AsSet();
    std::set_intersection(acc.begin(), acc.end(), s.begin(), s.end(), std::back_inserter(next),
                          ValueLess());
    acc = std::move(next);
  }
  return Value::FromSortedSet(std::move(acc));
}

std::optional<Value> Union(const Args& args, BuiltinContext& ctx) {
  const Set& sets = SetOfSets("union", args);
  size_t total = 0;
  for (const auto& s : sets) total += s.AsSet().size();
  ChargeElements(ctx, "union", total);
  std::vector<Value> all;
  all.reserve(total);
  for (const auto& s : sets) all.insert(all.end(), s.AsSet().begin(), s.AsSet().end());
  return Value::MakeSet(std::move(all));
}

}  // namespace

void RegisterCollectionBuiltins(BuiltinTable& t) {
  Add(t, "object.get", 3, ObjectGet);
  Add(t, "object.keys", 1, ObjectKeys);
  Add(t, "object.remove", 2, ObjectRemove);
  Add(t, "object.filter", 2, ObjectFilter);
  Add(t, "object.union", 2, ObjectUnion);
  Add(t, "object.union_n", 1, ObjectUnionN);
  Add(t, "object.subset", 2, ObjectSubsetFn);
  Add(t, "json.filter", 2, JsonFilter);
  Add(t, "json.remove", 2, JsonRemove);
  Add(t, "json.patch", 2, JsonPatch);
  Add(t, "array.concat", 2, ArrayConcat);
  Add(t, "array.slice", 3, ArraySlice);
  Add(t, "array.reverse", 1, ArrayReverse);
  Add(t, "intersection", 1, Intersection);
  Add(t, "union", 1, Union);
}

}  // namespace statehouse::policy::internal
