/* yaml_tree.c - builds a positioned node tree from libyaml's event stream.
 *
 * Design: the builder keeps a stack of the open sequences and mappings. Every new node is
 * attached to its parent the moment it is created (a mapping key is stored as a pair whose
 * value is still NULL), so on any error freeing the root frees everything built so far.
 * Anchored nodes are remembered by name, and an alias attaches a deep copy of the anchored
 * node, bounded by DAS_YAML_MAX_NODES, DAS_YAML_MAX_BYTES and DAS_YAML_MAX_DEPTH.
 */
#include "yaml_tree.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

typedef struct {
    char *name;
    das_yaml_node_t *node;
} anchor_t;

typedef struct {
    const char *name; /* file name for messages */
    das_err_t *err;
    das_yaml_node_t *root;
    das_yaml_node_t **stack; /* open sequences and mappings, innermost last */
    size_t depth, cap_stack;
    anchor_t *anchors;
    size_t n_anchors, cap_anchors;
    size_t n_nodes;
    size_t n_bytes; /* what the tree holds: text and node structures, aliases expanded */
    int n_docs;
} builder_t;

/* ---------------------------------------------------------------- helpers */

static int fail_at(builder_t *b, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(builder_t *b, int line, int col, const char *fmt, ...)
{
    das_buf_t msg = {0};
    va_list ap;
    va_start(ap, fmt);
    das_buf_vprintf(&msg, fmt, ap);
    va_end(ap);
    das_err_set(b->err, AE_EINVAL, "%s:%d:%d: %s", b->name, line, col, msg.data);
    das_buf_dispose(&msg);
    return AE_EINVAL;
}

static das_yaml_node_t *node_new(das_yaml_kind_t kind, int line, int col)
{
    das_yaml_node_t *n = das_xcalloc(1, sizeof *n);
    n->kind = kind;
    n->line = line;
    n->col = col;
    return n;
}

static void seq_push(das_yaml_node_t *seq, das_yaml_node_t *item)
{
    if (seq->n_items == seq->cap_items) {
        seq->cap_items = seq->cap_items ? seq->cap_items * 2 : 4;
        seq->items = das_xrealloc(seq->items, seq->cap_items * sizeof *seq->items);
    }
    seq->items[seq->n_items++] = item;
}

static void map_push(das_yaml_node_t *map, das_yaml_node_t *key, das_yaml_node_t *value)
{
    if (map->n_pairs == map->cap_pairs) {
        map->cap_pairs = map->cap_pairs ? map->cap_pairs * 2 : 4;
        map->pairs = das_xrealloc(map->pairs, map->cap_pairs * sizeof *map->pairs);
    }
    map->pairs[map->n_pairs].key = key;
    map->pairs[map->n_pairs].value = value;
    map->n_pairs++;
}

/* Counts a new node holding `text_len` bytes of text against the budgets: nodes, and the
 * bytes the expanded tree holds (an alias of a big string costs its size again). */
static int count_node(builder_t *b, size_t text_len, int line, int col)
{
    if (++b->n_nodes > DAS_YAML_MAX_NODES)
        return fail_at(b, line, col, "document too large (more than %d nodes, counting aliases)",
                       DAS_YAML_MAX_NODES);
    b->n_bytes += sizeof(das_yaml_node_t) + text_len;
    if (b->n_bytes > DAS_YAML_MAX_BYTES)
        return fail_at(b, line, col,
                       "document too large (more than %d MB once its aliases are expanded); "
                       "use fewer or smaller aliases",
                       DAS_YAML_MAX_BYTES / (1024 * 1024));
    return 0;
}

/* Copies `src` for an alias found at depth `depth`; fails past the node or depth budget. */
static int deep_copy(builder_t *b, const das_yaml_node_t *src, size_t depth, int line, int col,
                     das_yaml_node_t **out)
{
    *out = NULL;
    if (depth > DAS_YAML_MAX_DEPTH)
        return fail_at(b, line, col, "alias expands to nesting deeper than %d levels",
                       DAS_YAML_MAX_DEPTH);
    int rc = count_node(b, src->len, line, col);
    if (rc < 0)
        return rc;
    das_yaml_node_t *n = node_new(src->kind, src->line, src->col);
    n->plain = src->plain;
    if (src->text) {
        n->text = das_xstrndup(src->text, src->len);
        n->len = src->len;
    }
    for (size_t i = 0; i < src->n_items && rc == 0; i++) {
        das_yaml_node_t *item;
        rc = deep_copy(b, src->items[i], depth + 1, line, col, &item);
        if (rc == 0)
            seq_push(n, item);
    }
    for (size_t i = 0; i < src->n_pairs && rc == 0; i++) {
        das_yaml_node_t *k, *v = NULL;
        rc = deep_copy(b, src->pairs[i].key, depth + 1, line, col, &k);
        if (rc == 0) {
            map_push(n, k, NULL);
            rc = deep_copy(b, src->pairs[i].value, depth + 1, line, col, &v);
            n->pairs[n->n_pairs - 1].value = v;
        }
    }
    if (rc < 0) {
        das_yaml_tree_destroy(n);
        return rc;
    }
    *out = n;
    return 0;
}

/* Gives `n` to its parent (or makes it the root). On failure frees `n`. */
static int attach(builder_t *b, das_yaml_node_t *n)
{
    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    das_yaml_node_t *top = b->stack[b->depth - 1];
    if (top->kind == DAS_YAML_SEQUENCE) {
        seq_push(top, n);
        return 0;
    }
    if (top->n_pairs > 0 && top->pairs[top->n_pairs - 1].value == NULL) {
        top->pairs[top->n_pairs - 1].value = n;
        return 0;
    }
    int rc = 0;
    if (n->kind != DAS_YAML_SCALAR) {
        rc = fail_at(b, n->line, n->col, "mapping keys must be plain strings, not %s",
                     das_yaml_tree_kind_name(n->kind));
        das_yaml_tree_destroy(n);
        return rc;
    }
    for (size_t i = 0; i < top->n_pairs; i++) {
        const das_yaml_node_t *k = top->pairs[i].key;
        if (k->len == n->len && memcmp(k->text, n->text, n->len) == 0) {
            rc = fail_at(b, n->line, n->col,
                         "duplicate key '%s' (first defined at line %d, column %d)", n->text,
                         k->line, k->col);
            das_yaml_tree_destroy(n);
            return rc;
        }
    }
    map_push(top, n, NULL);
    return 0;
}

static void remember_anchor(builder_t *b, const yaml_char_t *anchor, das_yaml_node_t *n)
{
    if (!anchor)
        return;
    if (b->n_anchors == b->cap_anchors) {
        b->cap_anchors = b->cap_anchors ? b->cap_anchors * 2 : 4;
        b->anchors = das_xrealloc(b->anchors, b->cap_anchors * sizeof *b->anchors);
    }
    b->anchors[b->n_anchors].name = das_xstrdup((const char *)anchor);
    b->anchors[b->n_anchors].node = n;
    b->n_anchors++;
}

/* ---------------------------------------------------------------- events */

static int on_scalar(builder_t *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    if (memchr(text, '\0', len))
        return fail_at(b, line, col, "a NUL character is not allowed in a string");
    int rc = count_node(b, len, line, col);
    if (rc < 0)
        return rc;
    das_yaml_node_t *n = node_new(DAS_YAML_SCALAR, line, col);
    n->text = das_xstrndup(text, len);
    n->len = len;
    n->plain = ev->data.scalar.plain_implicit != 0;
    rc = attach(b, n);
    if (rc == 0)
        remember_anchor(b, ev->data.scalar.anchor, n);
    return rc;
}

static int on_start(builder_t *b, const yaml_event_t *ev, das_yaml_kind_t kind,
                    const yaml_char_t *anchor)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    if (b->depth >= DAS_YAML_MAX_DEPTH)
        return fail_at(b, line, col, "nesting deeper than %d levels", DAS_YAML_MAX_DEPTH);
    int rc = count_node(b, 0, line, col);
    if (rc < 0)
        return rc;
    das_yaml_node_t *n = node_new(kind, line, col);
    rc = attach(b, n);
    if (rc < 0)
        return rc;
    remember_anchor(b, anchor, n);
    if (b->depth == b->cap_stack) {
        b->cap_stack = b->cap_stack ? b->cap_stack * 2 : 8;
        b->stack = das_xrealloc(b->stack, b->cap_stack * sizeof *b->stack);
    }
    b->stack[b->depth++] = n;
    return 0;
}

static int on_alias(builder_t *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1, col = (int)ev->start_mark.column + 1;
    const char *name = (const char *)ev->data.alias.anchor;
    const das_yaml_node_t *target = NULL;
    for (size_t i = b->n_anchors; i-- > 0;) {
        if (strcmp(b->anchors[i].name, name) == 0) {
            target = b->anchors[i].node;
            break;
        }
    }
    if (!target)
        return fail_at(b, line, col, "alias '*%s' names no anchor defined before it", name);
    for (size_t i = 0; i < b->depth; i++)
        if (b->stack[i] == target)
            return fail_at(b, line, col, "alias '*%s' refers to a node that contains it", name);
    das_yaml_node_t *copy;
    int rc = deep_copy(b, target, b->depth, line, col, &copy);
    if (rc < 0)
        return rc;
    copy->line = line;
    copy->col = col;
    return attach(b, copy);
}

static int on_event(builder_t *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->n_docs > 1)
            return fail_at(b, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1,
                           "multiple documents in one configuration file");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, DAS_YAML_SEQUENCE, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, DAS_YAML_MAPPING, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (b->depth > 0)
            b->depth--;
        return 0;
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    default:
        return 0;
    }
}

/* Formats libyaml's own error: "name:line:col: problem context". */
static int parser_error(builder_t *b, const yaml_parser_t *p, const char *data, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return das_err_set(b->err, AE_ENOMEM, "%s: out of memory while parsing", b->name);
    if (p->error == YAML_READER_ERROR) {
        /* The reader reports a byte offset only; turn it into line and column. */
        int line = 1, col = 1;
        for (size_t i = 0; i < p->problem_offset && i < len; i++) {
            if (data[i] == '\n') {
                line++;
                col = 1;
            } else if (((unsigned char)data[i] & 0xC0) != 0x80) {
                col++;
            }
        }
        if (p->problem_value >= 0)
            return fail_at(b, line, col, "%s (byte 0x%02x)", p->problem, p->problem_value);
        return fail_at(b, line, col, "%s", p->problem ? p->problem : "cannot read input");
    }
    int line = (int)p->problem_mark.line + 1, col = (int)p->problem_mark.column + 1;
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (!p->context)
        return fail_at(b, line, col, "%s", problem);
    return fail_at(b, line, col, "%s %s that started at line %d, column %d", problem, p->context,
                   (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
}

/* ---------------------------------------------------------------- public */

int das_yaml_tree_parse(const char *data, size_t len, const char *name, das_yaml_node_t **root,
                        das_err_t *err)
{
    builder_t b = {.name = name, .err = err};
    yaml_parser_t parser;
    int rc = 0;

    *root = NULL;
    if (!yaml_parser_initialize(&parser))
        return das_err_set(err, AE_ENOMEM, "%s: out of memory while parsing", name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(&b, &parser, data, len);
            break;
        }
        bool done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc < 0 || done)
            break;
    }
    if (rc == 0 && b.n_docs == 0)
        rc = fail_at(&b, 1, 1, "empty configuration file");
    yaml_parser_delete(&parser);
    for (size_t i = 0; i < b.n_anchors; i++)
        free(b.anchors[i].name);
    free(b.anchors);
    free(b.stack);
    if (rc < 0) {
        das_yaml_tree_destroy(b.root);
        return rc;
    }
    *root = b.root;
    return 0;
}

void das_yaml_tree_destroy(das_yaml_node_t *node)
{
    if (!node)
        return;
    for (size_t i = 0; i < node->n_items; i++)
        das_yaml_tree_destroy(node->items[i]);
    for (size_t i = 0; i < node->n_pairs; i++) {
        das_yaml_tree_destroy(node->pairs[i].key);
        das_yaml_tree_destroy(node->pairs[i].value);
    }
    free(node->items);
    free(node->pairs);
    free(node->text);
    free(node);
}

const das_yaml_node_t *das_yaml_tree_get(const das_yaml_node_t *map, const char *key)
{
    if (!map || map->kind != DAS_YAML_MAPPING)
        return NULL;
    for (size_t i = 0; i < map->n_pairs; i++)
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return map->pairs[i].value;
    return NULL;
}

const char *das_yaml_tree_kind_name(das_yaml_kind_t kind)
{
    switch (kind) {
    case DAS_YAML_SCALAR:
        return "a string";
    case DAS_YAML_SEQUENCE:
        return "a list";
    case DAS_YAML_MAPPING:
        return "a mapping";
    }
    return "an unknown node";
}
