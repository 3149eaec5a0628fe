/* yaml_tree.h - a YAML document parsed into a small tree of positioned nodes.
 *
 * das_yaml_tree_parse() runs libyaml's event parser over a buffer and builds a tree of scalars,
 * sequences and mappings, each node carrying the 1-based line and column where it starts, so
 * that config validation can say "file:line:col: message" about any value. The tree resolves
 * nothing: scalars stay text, and `plain` tells whether a scalar was written unquoted and
 * untagged (only such scalars may be read as YAML 1.1 booleans, integers or null). Aliases are
 * expanded into copies of the anchored node. Mapping keys must be scalars, and a key written
 * twice in one mapping is an error.
 *
 * Only yaml_tree.c and config.c include yaml.h; this header does not.
 */
#ifndef DAS_YAML_TREE_H
#define DAS_YAML_TREE_H

#include <stdbool.h>
#include <stddef.h>

#include "util.h"

/* The most nodes one document may hold, counting alias copies (a guard against "billion
 * laughs" documents), and the deepest nesting allowed. */
#define DAS_YAML_MAX_NODES 100000
#define DAS_YAML_MAX_BYTES (16 * 1024 * 1024) /* text and nodes, aliases expanded */
#define DAS_YAML_MAX_DEPTH 128

typedef enum {
    DAS_YAML_SCALAR = 1,
    DAS_YAML_SEQUENCE,
    DAS_YAML_MAPPING,
} das_yaml_kind_t;

typedef struct das_yaml_node das_yaml_node_t;

/* One `key: value` entry of a mapping; the key is always a DAS_YAML_SCALAR node. */
typedef struct {
    das_yaml_node_t *key;
    das_yaml_node_t *value;
} das_yaml_pair_t;

struct das_yaml_node {
    das_yaml_kind_t kind;
    int line, col;  /* 1-based start of the node in the file */
    /* DAS_YAML_SCALAR: the text (never contains NUL), its length, and whether it was plain. */
    char *text;
    size_t len;
    bool plain;
    /* DAS_YAML_SEQUENCE: the items in order. */
    das_yaml_node_t **items;
    size_t n_items, cap_items;
    /* DAS_YAML_MAPPING: the entries in file order. */
    das_yaml_pair_t *pairs;
    size_t n_pairs, cap_pairs;
};

/* Parses `len` bytes of `data` as exactly one YAML document. `name` is the file name used in
 * messages (borrowed). On success stores the root node (the caller frees it with
 * das_yaml_tree_destroy()) and returns 0. On failure returns AE_EINVAL and fills `err` with
 * "name:line:col: message"; zero documents give "empty configuration file", more than one
 * "multiple documents in one configuration file". */
int das_yaml_tree_parse(const char *data, size_t len, const char *name, das_yaml_node_t **root,
                        das_err_t *err);

/* Frees a node and everything under it. Accepts NULL. */
void das_yaml_tree_destroy(das_yaml_node_t *node);

/* Returns the value stored under `key` in a mapping, or NULL when the key is absent or `map`
 * is not a mapping. Borrowed, valid until the tree is destroyed. */
const das_yaml_node_t *das_yaml_tree_get(const das_yaml_node_t *map, const char *key);

/* "a string", "a list" or "a mapping", for messages. */
const char *das_yaml_tree_kind_name(das_yaml_kind_t kind);

#endif
