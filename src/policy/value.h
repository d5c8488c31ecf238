// Rego values: null, boolean, number, string, array, object (any value as key) and set.
// Values are immutable and cheap to copy (containers are shared). Objects and sets keep their
// elements sorted by OPA's total order, so equal values compare equal and print the same.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace boost::json {
class value;
}

namespace statehouse::policy {

// OPA's sort order across types: null < boolean < number < string < array < object < set.
enum class Kind : uint8_t { kNull, kBoolean, kNumber, kString, kArray, kObject, kSet };

// A number is an int64 when it is integral and fits, else a double. Arithmetic on two
// integers stays exact; it moves to double only on overflow or a fraction.
struct Number {
  bool is_int = true;
  int64_t i = 0;
  double d = 0;

  static Number Int(int64_t v) { return {true, v, static_cast<double>(v)}; }
  static Number Double(double v);  // normalizes integral doubles within int64 to ints
  double AsDouble() const { return is_int ? static_cast<double>(i) : d; }
  // The integer value when the number is integral (ints, or doubles like 2.0).
  std::optional<int64_t> AsInt() const;
  int Compare(const Number& other) const;
  std::string ToString() const;  // JSON text: 1, 1.5, 1e+300
};

class Value;
using Array = std::vector<Value>;
using ObjectEntry = std::pair<Value, Value>;
using Set = std::vector<Value>;  // sorted, unique

class Object;  // below: a sorted object's entries

namespace value_detail {
// A shared, immutable payload with an intrusive count: a Value is 16 bytes (a header word and
// a payload word: number, boolean or node), where a std::shared_ptr and an inline Number made
// it 48. Plans of thousands of resources are millions of values, so the size is most of the
// cost of building, copying and freeing them.
struct Node {
  mutable std::atomic<uint32_t> refs{1};
};
struct ObjectNode;  // below, once Object is complete
template <typename T>
struct Box : Node {
  explicit Box(T v) : data(std::move(v)) {}
  const T data;
};
}  // namespace value_detail

class Value {
 public:
  Value() noexcept = default;  // null
  Value(const Value& other) noexcept : head_(other.head_), bits_(other.bits_) {
    if (HasNode()) node_->refs.fetch_add(1, std::memory_order_relaxed);
  }
  Value(Value&& other) noexcept : head_(other.head_), bits_(other.bits_) {
    other.head_ = 0;
    other.bits_ = 0;
  }
  Value& operator=(const Value& other) noexcept {
    Value copy(other);
    Swap(copy);
    return *this;
  }
  Value& operator=(Value&& other) noexcept {
    Value moved(std::move(other));
    Swap(moved);
    return *this;
  }
  ~Value() {
    if (HasNode()) Release();
  }
  void Swap(Value& other) noexcept {
    std::swap(head_, other.head_);
    std::swap(bits_, other.bits_);
  }

  static Value Null() { return Value(); }
  static Value Bool(bool b);
  static Value Int(int64_t i);
  static Value Double(double d);
  static Value Num(Number n);
  static Value String(std::string s);
  static Value MakeArray(Array items);
  // Sorts and drops duplicates.
  static Value MakeSet(std::vector<Value> items);
  // Sorts by key; a later duplicate key replaces an earlier one.
  static Value MakeObject(std::vector<ObjectEntry> entries);
  // For builders that keep entries sorted and unique: the order is checked (one pass), and
  // sorted like MakeObject when it does not hold.
  static Value FromSortedObject(std::vector<ObjectEntry> entries);
  // An object of n entries taken (moved) from pairs laid out as key, value, key, value...
  // Sorts by key; a later duplicate key replaces an earlier one.
  static Value ObjectFromPairs(Value* pairs, size_t n);
  static Value FromSortedSet(Set items);
  static Value EmptyArray();
  static Value EmptyObject();
  static Value EmptySet();

  Kind kind() const { return static_cast<Kind>(head_ & 0xff); }
  bool IsNull() const { return kind() == Kind::kNull; }
  bool IsBool() const { return kind() == Kind::kBoolean; }
  bool IsNumber() const { return kind() == Kind::kNumber; }
  bool IsString() const { return kind() == Kind::kString; }
  bool IsArray() const { return kind() == Kind::kArray; }
  bool IsObject() const { return kind() == Kind::kObject; }
  bool IsSet() const { return kind() == Kind::kSet; }
  bool IsTrue() const { return kind() == Kind::kBoolean && flag(); }

  bool AsBool() const { return kind() == Kind::kBoolean && flag(); }
  Number AsNumber() const {
    if (kind() != Kind::kNumber) return Number();
    if (flag()) return Number::Int(i_);
    Number n;
    n.is_int = false;
    n.d = d_;
    return n;
  }
  // Of the matching kind, else an empty one.
  const std::string& AsString() const {
    return kind() == Kind::kString ? Payload<std::string>() : EmptyOf<std::string>();
  }
  const Array& AsArray() const {
    return kind() == Kind::kArray ? Payload<Array>() : EmptyOf<Array>();
  }
  const Object& AsObject() const;
  const Set& AsSet() const { return kind() == Kind::kSet ? Payload<Set>() : EmptyOf<Set>(); }

  // Element count of a collection or code points of a string; 0 otherwise.
  size_t Size() const;
  // Object member by key; nullptr when absent or not an object.
  const Value* Find(const Value& key) const;
  const Value* Find(std::string_view key) const;
  bool SetContains(const Value& item) const;
  // x[key] as a Rego reference reads it: array index, object key, or set member (the member
  // itself). nullopt when undefined.
  std::optional<Value> Index(const Value& key) const;
  // The same without a copy: a pointer into this value, or &key for a set member; nullptr
  // when undefined. Valid while both this value and key are.
  const Value* Lookup(const Value& key) const;

  // OPA's total order.
  int Compare(const Value& other) const;
  bool operator==(const Value& other) const { return Compare(other) == 0; }
  bool operator!=(const Value& other) const { return Compare(other) != 0; }
  bool operator<(const Value& other) const { return Compare(other) < 0; }

  // JSON text (sets as arrays, non-string object keys as their JSON text).
  std::string ToJson() const;
  // Rego text, as `print` and sprintf's %v show it: sets as {1, 2}, strings quoted inside
  // collections; a top-level string is printed bare by those callers.
  std::string ToRego() const;
  // A string's first six bytes, zero-padded, as a number that orders as the bytes do (0 for
  // other kinds). When two strings' prefixes differ, the strings order as the prefixes.
  uint64_t PrefixOrder() const { return head_ >> 16; }
  // Rough bytes held, for the evaluator's memory budget.
  size_t Footprint() const;

 private:
  bool HasNode() const { return kind() >= Kind::kString; }
  template <typename T>
  const T& Payload() const {
    return static_cast<const value_detail::Box<T>*>(node_)->data;
  }
  const Object& ObjectPayload() const;
  // A node for n entries, their storage uninitialized; the caller constructs exactly n.
  static value_detail::ObjectNode* NewObjectNode(size_t n);
  // Sorts the node's entries by key, keeps the last of equal keys, and wraps it.
  static Value AdoptObjectNode(value_detail::ObjectNode* node);
  template <typename T>
  static const T& EmptyOf() {
    static const T empty;
    return empty;
  }
  template <typename T>
  static Value Boxed(Kind kind, T data) {
    Value v;
    v.head_ = Head(kind);
    v.node_ = new value_detail::Box<T>(std::move(data));
    return v;
  }
  void Release() noexcept;

  // kind (bits 0-7), flag (bits 8-15: the boolean, or whether the number is an int64), and
  // for a string its first six bytes, zero-padded and big-endian (bits 16-63): kept beside the
  // pointer, they decide most comparisons of keys without reading the string (a cache miss
  // per key on large inputs). One word, so copies and swaps stay two moves.
  friend int CompareKeys(const Value& a, const Value& b);
  friend int CompareStrings(const Value& a, const Value& b);
  bool flag() const { return ((head_ >> 8) & 0xff) != 0; }
  static uint64_t Head(Kind kind, bool flag = false, uint64_t prefix = 0) {
    return static_cast<uint64_t>(kind) | (static_cast<uint64_t>(flag) << 8) | (prefix << 16);
  }

  uint64_t head_ = 0;
  union {
    uint64_t bits_ = 0;
    int64_t i_;
    double d_;
    const value_detail::Node* node_;  // Box<std::string>, Box<Array>, ObjectNode or Box<Set>
  };
};
static_assert(sizeof(Value) == 16);

// An object's entries, sorted by key with keys unique: a read-only view of the entries its
// value's node holds in the same allocation (one allocation and one cache miss per object,
// where a vector in the node made two). Objects are built from std::vector<ObjectEntry>.
class Object {
 public:
  using value_type = ObjectEntry;
  using const_iterator = const ObjectEntry*;
  using iterator = const ObjectEntry*;

  const ObjectEntry* begin() const { return data_; }
  const ObjectEntry* end() const { return data_ + size_; }
  const ObjectEntry* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const ObjectEntry& operator[](size_t i) const { return data_[i]; }
  const ObjectEntry& front() const { return data_[0]; }
  const ObjectEntry& back() const { return data_[size_ - 1]; }
  // A copy of the entries, to build another object from.
  std::vector<ObjectEntry> Entries() const { return std::vector<ObjectEntry>(begin(), end()); }

 private:
  friend class Value;
  ObjectEntry* data_ = nullptr;
  size_t size_ = 0;
};

namespace value_detail {
// An object's node: the view, then the entries it views, in one allocation.
struct ObjectNode : Node {
  Object data;
};
}  // namespace value_detail

inline const Object& Value::ObjectPayload() const {
  return static_cast<const value_detail::ObjectNode*>(node_)->data;
}
inline const Object& Value::AsObject() const {
  return kind() == Kind::kObject ? ObjectPayload() : EmptyOf<Object>();
}

struct ValueLess {
  bool operator()(const Value& a, const Value& b) const { return a.Compare(b) < 0; }
};

// JSON document <-> value. Objects' keys become strings.
Value FromJson(const boost::json::value& json);
boost::json::value ToBoostJson(const Value& value);
// Parses JSON text; throws std::runtime_error with the parser's message.
Value ParseJson(std::string_view text);

// Builds a sorted object from string keys without a re-sort when inserted in order.
class ObjectBuilder {
 public:
  void Add(Value key, Value value) { entries_.emplace_back(std::move(key), std::move(value)); }
  void Add(std::string key, Value value) { Add(Value::String(std::move(key)), std::move(value)); }
  Value Build() { return Value::MakeObject(std::move(entries_)); }

 private:
  std::vector<ObjectEntry> entries_;
};

}  // namespace statehouse::policy
