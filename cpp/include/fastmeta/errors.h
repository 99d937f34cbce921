// Typed errors thrown by fastmeta's core. Every message names the byte offset,
// node or key it is about, so the Python layer can pass it on unchanged.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace fastmeta {

// Base of every error the core throws on bad input.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Malformed wire data: bad varint, length past the end, wrong wire type, invalid UTF-8...
class ParseError : public Error {
 public:
  ParseError(const std::string& what, size_t offset)
      : Error(what + " (at byte offset " + std::to_string(offset) + ")"), offset_(offset) {}
  size_t offset() const { return offset_; }

 private:
  size_t offset_;
};

// Well-formed bytes describing an invalid graph: duplicate or invalid node names,
// inputs naming unknown nodes, cycles, colocation with unknown nodes.
class GraphError : public Error {
 public:
  GraphError(const std::string& what, std::string node) : Error(what), node_(std::move(node)) {}
  const std::string& node() const { return node_; }

 private:
  std::string node_;
};

// An input_map that does not fit the graph (unused keys, malformed keys or values).
class InputMapError : public Error {
 public:
  using Error::Error;
};

// Input larger than protobuf's 2 GiB message limit.
class SizeLimitError : public Error {
 public:
  using Error::Error;
};

}  // namespace fastmeta
