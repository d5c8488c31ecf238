// Boost.JSON's implementation, compiled here with the fuzzers' instrumentation instead of
// linking the gcc-built libboost_json (coverage inside the parser guides libFuzzer).
#include <boost/json/src.hpp>
