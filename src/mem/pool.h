#pragma once
// Per-shard object pools. A class that derives from PoolAllocated<T> gets its
// storage from a free list owned by the current thread — that is, by the shard that
// created it, since connections, streams and exchanges never leave their shard.
// Freed objects are kept for reuse up to kMaxCached per type and thread.

#include <cstddef>
#include <cstdlib>
#include <new>

namespace ringway {

template <class T>
class PoolAllocated {
 public:
  static void* operator new(size_t size) {
    FreeList& list = free_list();
    if (size == sizeof(T) && list.head) {
      Node* n = list.head;
      list.head = n->next;
      --list.count;
      return n;
    }
    void* p = malloc(size < sizeof(Node) ? sizeof(Node) : size);
    if (!p) abort();  // allocation failure is fatal by design (limits bound memory)
    return p;
  }
  static void operator delete(void* p, size_t size) {
    FreeList& list = free_list();
    if (size == sizeof(T) && list.count < kMaxCached) {
      Node* n = static_cast<Node*>(p);
      n->next = list.head;
      list.head = n;
      ++list.count;
      return;
    }
    free(p);
  }

 private:
  static constexpr size_t kMaxCached = 4096;
  struct Node {
    Node* next;
  };
  struct FreeList {
    Node* head = nullptr;
    size_t count = 0;
    ~FreeList() {
      while (head) {
        Node* n = head->next;
        free(head);
        head = n;
      }
    }
  };
  static FreeList& free_list() {
    thread_local FreeList list;
    return list;
  }
};

}  // namespace ringway
