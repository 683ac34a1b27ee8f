/*
 * Compiled fast path of the HTML rewriter (consent/rewriter.py), optional.
 *
 * It runs the commonest stretch of HtmlRewriter._scan once the head injection is in place:
 * find the next construct the scan's pattern (_scanner.SEARCH_MAIN, SEARCH_BODY before the
 * body) would match, passing inert <svg> and <math> drawings by as that pattern does, and take
 * plain elements (images, sources, links, ...), frames, inputs and scripts, external or
 * inline, whose answer the classifier remembers (and <noscript> elements made only of such):
 * those it need not hold are passed over, those it holds are written in their held form when
 * the Python code made that form before (_HELD_TAGS). It finds those answers again through an
 * index of its own (below), writes the body's injection after a plain <body>, and passes
 * comments and bogus comments by when it has answers to read. For a rewriter that can hold
 * nothing (a visitor who granted everything) it is given True instead of answers and passes
 * them all. Whatever else it meets (a tag that may lie inside another's attributes, an
 * unknown tag, a script whose end is not in the chunk, a construct cut by the chunk's end)
 * it leaves where it is: the Python loop takes over at that point with
 * exactly the state it would have had, so the output is the Python rewriter's by
 * construction. Every step below mirrors one expression of that loop.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* With SSE2 (every x86-64) and a compiler of GCC's family (for __builtin_ctz), the '<' of a
 * page are found 32 bytes to a compare; elsewhere (MSVC, other processors), or built with
 * CONSENT_NO_SIMD as a test builds it, by memchr. */
#if defined(__SSE2__) && defined(__GNUC__) && !defined(CONSENT_NO_SIMD)
#include <emmintrin.h>
#define SSE2_BLOCKS 1
#endif

/* Longest name the scan's pattern looks for ("plaintext"): a longer run is no candidate. */
#define LONGEST_NAME 9

enum {
    NOT_SEARCHED,
    SEARCHED,
    PLAIN,
    SCRIPT,
    NOSCRIPT,
    IFRAME,
    INPUT,
    RAW_TEXT,
    FOREIGN_SVG,
    FOREIGN_MATH,
    BODY,       /* a <body> start tag while the body's injection is due */
    DECLARATION /* "<!" or "<?": a comment, a doctype or a bogus comment */
};

/* _scanner's CONSIDERED | RAW_TEXT | OTHER | {"plaintext"}; the tests compare both lists. */
static const char *const searched_names[] = {
    "script", "iframe", "img", "embed", "object", "video", "audio", "source", "track",
    "link", "input", "style", "textarea", "title", "xmp", "noembed", "noframes", "noscript",
    "svg", "math", "base", "frame", "image", "plaintext", NULL,
};
/* _scanner.RAW_TEXT but the script and the frame: text up to the end tag, nothing judged. */
static const char *const raw_text_names[] = {
    "style", "textarea", "title", "xmp", "noembed", "noframes", NULL,
};
/* rewriter._PLAIN_NAMES: classified on their start tag alone, inside the scanning loop. */
static const char *const plain_names[] = {
    "img", "source", "link", "video", "audio", "embed", "object", "track", "frame", "image",
    NULL,
};

/* _scanner.FOREIGN_NAMES: a tag of one of these names makes drawing markup more than inert. */
#define LONGEST_FOREIGN 14
static const char *const foreign_names[] = {
    "a", "annotation-xml", "audio", "b", "base", "big", "blockquote", "body", "br", "center",
    "code", "dd", "desc", "div", "dl", "dt", "em", "embed", "feimage", "font", "foreignobject",
    "frame", "h1", "h2", "h3", "h4", "h5", "h6", "head", "hr", "i", "iframe", "image", "img",
    "input", "li", "link", "listing", "malignmark", "math", "menu", "meta", "mglyph", "mi",
    "mn", "mo", "ms", "mtext", "nobr", "noembed", "noframes", "noscript", "object", "ol", "p",
    "plaintext", "pre", "ruby", "s", "script", "small", "source", "span", "strike", "strong",
    "style", "sub", "sup", "svg", "table", "template", "textarea", "title", "track", "tt", "u",
    "ul", "use", "var", "video", "xmp", NULL,
};
/* What SEARCH_BODY looks for on top of SEARCH_MAIN: start tags, and end tags. */
static const char *const body_names[] = {"body", "template", NULL};
static const char *const body_end_names[] = {"template", NULL};
/* _scanner.FETCH_ATTR_NAMES: attributes that fetch on any element, <body> among them. */
static const char *const fetch_attr_names[] = {"ping", "background", "xlink:href", NULL};
/* Attributes that fetch, which keep an <svg> or <math> from being inert (_NOT_FETCHING). */
static const char *const fetching_names[] = {"href", "xlink:href", "ping", "background", NULL};

/* Bytes by class, as the patterns' [\t\n\f\r ], [\t\n\f\r />], [\t\n\f\r />=] (what ends an
 * attribute's name), [\t\n\f\r >] (an unquoted value) and [\t\n\f\r /] read them: one load
 * per byte in the loops that run over every tag name and attribute. */
enum { SPACE = 1, ENDS_NAME = 2, ENDS_ATTR_NAME = 4, ENDS_VALUE = 8, BETWEEN_ATTRS = 16 };
#define WHITE (SPACE | ENDS_NAME | ENDS_ATTR_NAME | ENDS_VALUE | BETWEEN_ATTRS)
static const unsigned char byte_class[256] = {
    ['\t'] = WHITE,
    ['\n'] = WHITE,
    ['\f'] = WHITE,
    ['\r'] = WHITE,
    [' '] = WHITE,
    ['/'] = ENDS_NAME | ENDS_ATTR_NAME | BETWEEN_ATTRS,
    ['>'] = ENDS_NAME | ENDS_ATTR_NAME | ENDS_VALUE,
    ['='] = ENDS_ATTR_NAME,
};

static inline int
is_space(unsigned char c)
{
    return byte_class[c] & SPACE;
}

static inline int
ends_name(unsigned char c)
{
    return byte_class[c] & ENDS_NAME;
}

static inline int
ends_attr_name(unsigned char c)
{
    return byte_class[c] & ENDS_ATTR_NAME;
}

static inline int
ends_value(unsigned char c)
{
    return byte_class[c] & ENDS_VALUE;
}

/*
 * Where the first c in s[i:n] lies, -1 when there is none. An attribute's quoted value is
 * mostly a few bytes long, too few for a call of memchr to pay; with SSE2, 16 bytes are
 * looked at together, the last few one by one.
 */
static inline Py_ssize_t
find_byte(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, unsigned char c)
{
#if defined(SSE2_BLOCKS)
    const __m128i wanted = _mm_set1_epi8((char)c);
    for (; n - i >= 16; i += 16) {
        unsigned int bits = (unsigned int)_mm_movemask_epi8(
            _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + i)), wanted));
        if (bits != 0) {
            return i + __builtin_ctz(bits);
        }
    }
    for (; i < n; i++) {
        if (s[i] == c) {
            return i;
        }
    }
    return -1;
#else
    const unsigned char *hit = i < n ? memchr(s + i, c, (size_t)(n - i)) : NULL;
    return hit == NULL ? -1 : hit - s;
#endif
}

/*
 * Which lists hold a name of each length and first letter: most tags (div, span, a, path)
 * are turned away on that alone, before any comparison. Filled once, on import.
 */
enum { IN_SEARCHED = 1, IN_PLAIN = 2, IN_FOREIGN = 4, IN_FETCHING = 8 };
static unsigned char quick[LONGEST_FOREIGN + 1][256];

static void
mark(const char *const *list, unsigned char bit)
{
    for (; *list != NULL; list++) {
        quick[strlen(*list)][(unsigned char)(*list)[0]] |= bit;
    }
}

/*
 * The two bytes after a '<' that may start what the scan's pattern looks for, both cases: the
 * byte after it has a bit in after_lt (one per first letter of a searched name, its own for
 * "<!", "<?" and, before the body, "</"), which the byte after that has too in second_byte
 * (every byte has that of "<!" and "<?"). Most tags of a page (</div>, <a , <span, <p>, <li>)
 * are turned away on these two loads. Filled once, on import.
 */
enum { OPENS = (uint32_t)1 << 26, BODY_END = (uint32_t)1 << 27 };
static uint32_t after_lt[256], second_byte[256];

static unsigned char
to_upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - ('a' - 'A')) : c;
}

/* ASCII only, as the bytes patterns ignore case. */
static unsigned char
to_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Lets through the names of list (all of two letters or more) after a '<' and the prefix. */
static void
mark_pairs(const char *const *list, unsigned char prefix)
{
    for (; *list != NULL; list++) {
        const unsigned char *name = (const unsigned char *)*list;
        unsigned char first = prefix != 0 ? prefix : name[0];
        unsigned char second = prefix != 0 ? name[0] : name[1];
        uint32_t bit = prefix != 0 ? BODY_END : (uint32_t)1 << (first - 'a');
        after_lt[first] |= bit;
        after_lt[to_upper(first)] |= bit;
        second_byte[second] |= bit;
        second_byte[to_upper(second)] |= bit;
    }
}

static void
mark_after_lt(void)
{
    int i;
    mark_pairs(searched_names, 0);
    mark_pairs(body_names, 0);
    mark_pairs(body_end_names, '/');
    after_lt['!'] |= OPENS;
    after_lt['?'] |= OPENS;
    for (i = 0; i < 256; i++) {
        second_byte[i] |= OPENS;
    }
}

/* Compared with its length: a name may hold NUL bytes, which no listed name does. Its first
 * letter first: most listed names differ there, and then need no strlen. */
static int
in_list(const char *const *list, const char *name, Py_ssize_t len)
{
    for (; *list != NULL; list++) {
        if ((*list)[0] == name[0] && (Py_ssize_t)strlen(*list) == len &&
            memcmp(*list, name, (size_t)len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* s[0:len] lower-cased (ASCII only, as the bytes patterns ignore case) into out[0:len+1]. */
static void
lower_into(char *out, const unsigned char *s, Py_ssize_t len)
{
    Py_ssize_t i;
    for (i = 0; i < len; i++) {
        out[i] = (char)to_lower(s[i]);
    }
    out[len] = '\0';
}

/* Whether s[0:len], case ignored, is in the list marked with bit. */
static int
named(const char *const *list, unsigned char bit, const unsigned char *s, Py_ssize_t len)
{
    char lower[LONGEST_FOREIGN + 1];
    unsigned char first = s[0];
    if (len < 1 || len > LONGEST_FOREIGN) {
        return 0;
    }
    if (first >= 'A' && first <= 'Z') {
        first = (unsigned char)(first + ('a' - 'A'));
    }
    if (!(quick[len][first] & bit)) {
        return 0;
    }
    lower_into(lower, s, len);
    return in_list(list, lower, len);
}

/* How the name at s[0:len] is searched. */
static int
name_kind(const unsigned char *s, Py_ssize_t len)
{
    char lower[LONGEST_NAME + 1];
    unsigned char first = s[0];
    if (len < 1 || len > LONGEST_NAME) {
        return NOT_SEARCHED;
    }
    if (first >= 'A' && first <= 'Z') {
        first = (unsigned char)(first + ('a' - 'A'));
    }
    if (!(quick[len][first] & IN_SEARCHED)) {
        return NOT_SEARCHED;
    }
    lower_into(lower, s, len);
    if (len == 3 && memcmp(lower, "svg", 3) == 0) {
        return FOREIGN_SVG;
    }
    if (len == 4 && memcmp(lower, "math", 4) == 0) {
        return FOREIGN_MATH;
    }
    if (in_list(plain_names, lower, len)) {
        return PLAIN;
    }
    if (len == 6 && memcmp(lower, "script", 6) == 0) {
        return SCRIPT;
    }
    if (len == 8 && memcmp(lower, "noscript", 8) == 0) {
        return NOSCRIPT;
    }
    if (len == 6 && memcmp(lower, "iframe", 6) == 0) {
        return IFRAME;
    }
    if (len == 5 && memcmp(lower, "input", 5) == 0) {
        return INPUT;
    }
    if (in_list(raw_text_names, lower, len)) {
        return RAW_TEXT;
    }
    return in_list(searched_names, lower, len) ? SEARCHED : NOT_SEARCHED;
}

/* Whether an attribute named like one that fetches starts at i (a delimiter must follow). */
static int
fetching_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    Py_ssize_t j;
    for (j = i; j < n && j - i <= 10 && !ends_attr_name(s[j]); j++) {
    }
    return j < n && ends_attr_name(s[j]) && named(fetching_names, IN_FETCHING, s + i, j - i);
}

/* Whether s[0:len], case ignored, is name (lower case, len bytes). */
static int
name_is(const unsigned char *s, const char *name, Py_ssize_t len)
{
    Py_ssize_t k;
    for (k = 0; k < len; k++) {
        if (to_lower(s[k]) != (unsigned char)name[k]) {
            return 0;
        }
    }
    return 1;
}

/* Whether s[i:j] is the name "nonce", case ignored. */
static inline int
is_nonce_name(const unsigned char *s, Py_ssize_t i, Py_ssize_t j)
{
    return j - i == 5 && name_is(s + i, "nonce", 5);
}

/*
 * The end of _scanner.ATTRS matched at i: attributes certainly complete, possessively. With
 * inert set, that of _INERT_ATTRS, which also stops before an attribute that fetches. With
 * nonce (two positions, both -1 on the way in), where the value of the first attribute named
 * "nonce" lies, as written, quotes included, as _scanner.nonce_value finds it: left -1 when
 * there is none, or it has no value.
 */
static Py_ssize_t
attrs_walk(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, int inert, Py_ssize_t *nonce)
{
    int looking = nonce != NULL; /* for the first nonce: later ones are no nonce */
    for (;;) {
        Py_ssize_t j, k, value_end = -1;
        unsigned char c;
        if (i >= n) {
            return i;
        }
        c = s[i];
        if (byte_class[c] & BETWEEN_ATTRS) {
            while (i < n && (byte_class[s[i]] & BETWEEN_ATTRS)) {
                i++;
            }
            continue;
        }
        if (c == '>' || (inert && fetching_at(s, i, n))) {
            return i;
        }
        /* A name: its first character may be '=', the rest may not; something must follow. */
        for (j = i + 1; j < n && !ends_attr_name(s[j]); j++) {
        }
        if (j >= n) {
            return i;
        }
        for (k = j; k < n && is_space(s[k]); k++) {
        }
        if (k < n && s[k] == '=') {
            for (k++; k < n && is_space(s[k]); k++) {
            }
            if (k < n) {
                c = s[k];
                if (c == '"' || c == '\'') {
                    Py_ssize_t close = find_byte(s, k + 1, n, c);
                    if (close >= 0) {
                        value_end = close + 1;
                    }
                }
                else if (c == '>') {
                    value_end = k;
                }
                else {
                    Py_ssize_t m = k + 1;
                    while (m < n && !ends_value(s[m])) {
                        m++;
                    }
                    if (m < n) {
                        value_end = m;
                    }
                }
                if (value_end >= 0) {
                    if (looking && is_nonce_name(s, i, j)) {
                        looking = 0;
                        if (value_end > k) {
                            nonce[0] = k;
                            nonce[1] = value_end;
                        }
                    }
                    i = value_end;
                    continue;
                }
            }
        }
        /* A name without a value: what follows its spaces must be there and not be '='. */
        for (k = j; k < n && is_space(s[k]); k++) {
        }
        if (k < n && s[k] != '=') {
            if (looking && is_nonce_name(s, i, j)) {
                looking = 0;
            }
            i = j;
            continue;
        }
        return i;
    }
}

static Py_ssize_t
attrs_end(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, int inert)
{
    return attrs_walk(s, i, n, inert, NULL);
}

/*
 * Whether _scanner.INERT_FOREIGN[name] matches at i, just past the name of an <svg> or <math>:
 * the rest of its start tag and all its content up to its end tag are drawing markup alone,
 * which SEARCH_MAIN passes by.
 */
static int
is_inert(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, const char *name)
{
    Py_ssize_t len = (Py_ssize_t)strlen(name);
    char end_name[LONGEST_FOREIGN + 1];
    i = attrs_end(s, i, n, 1);
    if (i >= n || s[i] != '>') {
        return 0;
    }
    i++;
    while (i < n) {
        Py_ssize_t k, j, e;
        if (s[i] != '<') {
            const unsigned char *lt = memchr(s + i, '<', (size_t)(n - i));
            i = lt == NULL ? n : lt - s;
            continue;
        }
        if (i + 1 < n && (s[i + 1] == '!' || s[i + 1] == '?')) {
            break;
        }
        k = i + 1 < n && s[i + 1] == '/' ? i + 2 : i + 1;
        for (j = k; j < n && !ends_name(s[j]); j++) {
        }
        if (j < n && named(foreign_names, IN_FOREIGN, s + k, j - k)) {
            break;
        }
        if (k >= n || !((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z'))) {
            break;
        }
        e = attrs_end(s, j, n, 1);
        if (e >= n || s[e] != '>') {
            break;
        }
        i = e + 1;
    }
    /* What follows must be the element's end tag. */
    if (i + 2 + len >= n || s[i] != '<' || s[i + 1] != '/' || !ends_name(s[i + 2 + len])) {
        return 0;
    }
    lower_into(end_name, s + i + 2, len);
    return memcmp(end_name, name, (size_t)len) == 0;
}

/* Whether s[0:len], case ignored, is in list (of names no longer than LONGEST_NAME). */
static int
listed(const char *const *list, const unsigned char *s, Py_ssize_t len)
{
    char lower[LONGEST_NAME + 1];
    if (len < 1 || len > LONGEST_NAME) {
        return 0;
    }
    lower_into(lower, s, len);
    return in_list(list, lower, len);
}

/*
 * Whether the two bytes after the '<' at p may start a match; want is after_lt's bits that
 * count (BODY_END only with body_due). What the buffer's end cuts goes to candidate_at.
 */
static inline int
may_start(const unsigned char *s, Py_ssize_t p, Py_ssize_t n, uint32_t want)
{
    return p + 2 >= n || (after_lt[s[p + 1]] & second_byte[s[p + 2]] & want) != 0;
}

/*
 * Whether SEARCH_MAIN (SEARCH_BODY with body_due) matches at the '<' at p: 1 with *kind saying
 * what it is and *name_end where its name ends, 0 when not.
 */
static int
candidate_at(const unsigned char *s, Py_ssize_t p, Py_ssize_t n, int body_due, int *kind,
             Py_ssize_t *name_end)
{
    Py_ssize_t j, limit;
    uint32_t bits;
    int found;
    if (p + 1 >= n) {
        return 0;
    }
    bits = after_lt[s[p + 1]] & (body_due ? ~(uint32_t)0 : ~(uint32_t)BODY_END);
    if (bits & OPENS) {
        *kind = DECLARATION;
        *name_end = -1;
        return 1;
    }
    /* No searched name is shorter than two letters, so the pair decides for most tags. */
    if (bits == 0 || p + 2 >= n || !(bits & second_byte[s[p + 2]])) {
        return 0;
    }
    /* The name runs to the first space, '/' or '>'; the pattern needs one after it. */
    limit = p + 2 + LONGEST_NAME < n ? p + 2 + LONGEST_NAME : n;
    if (bits & BODY_END) {
        for (j = p + 2; j < limit && !ends_name(s[j]); j++) {
        }
        if (j < limit && listed(body_end_names, s + p + 2, j - p - 2)) {
            *kind = SEARCHED;
            *name_end = j;
            return 1;
        }
        return 0;
    }
    for (j = p + 1; j < limit && !ends_name(s[j]); j++) {
    }
    if (j >= limit) {
        return 0;
    }
    found = name_kind(s + p + 1, j - p - 1);
    if ((found == FOREIGN_SVG && is_inert(s, j, n, "svg")) ||
        (found == FOREIGN_MATH && is_inert(s, j, n, "math"))) {
        found = NOT_SEARCHED;
    }
    if (found == NOT_SEARCHED && body_due && listed(body_names, s + p + 1, j - p - 1)) {
        found = j - p - 1 == 4 && name_is(s + p + 1, "body", 4) ? BODY : SEARCHED;
    }
    if (found == NOT_SEARCHED) {
        return 0;
    }
    *kind = found;
    *name_end = j;
    return 1;
}

#if defined(SSE2_BLOCKS)
/* Bit i set where s[i] is '<', for i in [0, 32). */
static inline unsigned int
lt_bits(const unsigned char *s)
{
    const __m128i lt = _mm_set1_epi8('<');
    unsigned int low = (unsigned int)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)s), lt));
    unsigned int high = (unsigned int)_mm_movemask_epi8(
        _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(const void *)(s + 16)), lt));
    return low | high << 16;
}
#endif

/*
 * Where SEARCH_MAIN's first match at or after pos starts (SEARCH_BODY's with body_due), -1
 * when there is none; *kind says what it is and *name_end where its name ends. *last_lt is the
 * last '<' before the match (or before n), -1 when there is none after pos.
 */
static Py_ssize_t
next_candidate(const unsigned char *s, Py_ssize_t pos, Py_ssize_t n, int body_due, int *kind,
               Py_ssize_t *name_end, Py_ssize_t *last_lt)
{
    Py_ssize_t q = pos;
    uint32_t want = body_due ? ~(uint32_t)0 : ~(uint32_t)BODY_END;
    *last_lt = -1;
#if defined(SSE2_BLOCKS)
    /* A '<' comes every 30 to 70 bytes of a page: a call of memchr for each cost more than
     * the test of what follows it. The last bytes, short of a block, go to memchr. */
    for (; n - q >= 32; q += 32) {
        unsigned int bits = lt_bits(s + q);
        while (bits != 0) {
            Py_ssize_t p = q + __builtin_ctz(bits);
            if (may_start(s, p, n, want) && candidate_at(s, p, n, body_due, kind, name_end)) {
                return p;
            }
            *last_lt = p;
            bits &= bits - 1;
        }
    }
#endif
    while (q < n) {
        const unsigned char *hit = memchr(s + q, '<', (size_t)(n - q));
        Py_ssize_t p;
        if (hit == NULL) {
            return -1;
        }
        p = hit - s;
        if (may_start(s, p, n, want) && candidate_at(s, p, n, body_due, kind, name_end)) {
            return p;
        }
        *last_lt = p;
        q = p + 1;
    }
    return -1;
}

static Py_ssize_t
rfind_byte(const unsigned char *s, unsigned char c, Py_ssize_t start, Py_ssize_t end)
{
#if defined(__GLIBC__)
    /* Python.h asks for the GNU extensions, memrchr among them. */
    const unsigned char *hit;
    if (end <= start) {
        return -1;
    }
    hit = memrchr(s + start, c, (size_t)(end - start));
    return hit == NULL ? -1 : hit - s;
#else
    Py_ssize_t i;
    for (i = end - 1; i >= start; i--) {
        if (s[i] == c) {
            return i;
        }
    }
    return -1;
#endif
}

/* rewriter._may_be_quoted. */
static int
may_be_quoted(const unsigned char *s, Py_ssize_t pos, Py_ssize_t gt)
{
    static const unsigned char quotes[2] = {'"', '\''};
    int i;
    for (i = 0; i < 2; i++) {
        Py_ssize_t q = rfind_byte(s, quotes[i], pos, gt);
        Py_ssize_t j = q - 1;
        while (j > pos && is_space(s[j])) {
            j--;
        }
        if (q > pos && s[j] == '=') {
            return 1;
        }
    }
    return 0;
}

/*
 * The loop's test that a match may lie inside another tag's attributes (the "closer look"):
 * last_lt is the last '<' between pos and p, as the search saw it.
 */
static int
needs_closer_look(const unsigned char *s, Py_ssize_t pos, Py_ssize_t p, Py_ssize_t last_lt)
{
    Py_ssize_t gt, from;
    if (p <= pos) {
        return 0;
    }
    gt = rfind_byte(s, '>', pos, p);
    from = gt + 1 > pos ? gt + 1 : pos;
    if (last_lt >= from) {
        return 1;
    }
    return gt >= 0 && may_be_quoted(s, pos, gt);
}

/* Whether name (lower case, len bytes) and a character that ends a name start at i, case
 * ignored. */
static int
name_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t n, const char *name, Py_ssize_t len)
{
    if (i + len >= n) {
        return 0;
    }
    return name_is(s + i, name, len) && ends_name(s[i + len]);
}

static int
script_name_at(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    return name_at(s, i, n, "script", 6);
}

/* _scanner.end_tag(name).search from pos: where the first end tag name starts, or -1. */
static Py_ssize_t
end_tag_from(const unsigned char *s, Py_ssize_t pos, Py_ssize_t n, const char *name,
             Py_ssize_t len)
{
    while (pos < n) {
        const unsigned char *lt = memchr(s + pos, '<', (size_t)(n - pos));
        Py_ssize_t i;
        if (lt == NULL) {
            return -1;
        }
        i = lt - s;
        if (i + 1 < n && s[i + 1] == '/' && name_at(s, i + 2, n, name, len)) {
            return i;
        }
        pos = i + 1;
    }
    return -1;
}

enum { SCRIPT_DATA, SCRIPT_ESCAPED, SCRIPT_DOUBLE };

/*
 * _scanner.script_end from pos in script data: where the script's end tag starts, -1 when
 * the buffer ends first. The escaped states are those of old pages hiding scripts in comments.
 */
static Py_ssize_t
script_end(const unsigned char *s, Py_ssize_t pos, Py_ssize_t n)
{
    int state = SCRIPT_DATA;
    Py_ssize_t i = pos;
    while (i < n) {
        unsigned char c;
        if (state == SCRIPT_DATA) {
            const unsigned char *lt = memchr(s + i, '<', (size_t)(n - i));
            if (lt == NULL) {
                return -1;
            }
            i = lt - s;
            if (i + 3 < n && s[i + 1] == '!' && s[i + 2] == '-' && s[i + 3] == '-') {
                /* The dashes may be those of "-->": "<!-->" opens and closes at once. */
                state = SCRIPT_ESCAPED;
                i += 2;
                continue;
            }
            if (i + 1 < n && s[i + 1] == '/' && script_name_at(s, i + 2, n)) {
                return i;
            }
            i++;
            continue;
        }
        c = s[i];
        if (c == '-' && i + 2 < n && s[i + 1] == '-' && s[i + 2] == '>') {
            state = SCRIPT_DATA;
            i += 3;
            continue;
        }
        if (c == '<') {
            if (i + 1 < n && s[i + 1] == '/' && script_name_at(s, i + 2, n)) {
                if (state == SCRIPT_ESCAPED) {
                    return i;
                }
                state = SCRIPT_ESCAPED;
                i += 8;
                continue;
            }
            if (state == SCRIPT_ESCAPED && script_name_at(s, i + 1, n)) {
                state = SCRIPT_DOUBLE;
                i += 7;
                continue;
            }
        }
        i++;
    }
    return -1;
}

/*
 * The first attribute named name (lower case, len bytes) of a complete tag between i and
 * stop, as _scanner.ATTR reads them: 1 with its value as written in [*value, *value_end)
 * (quotes removed; empty when it has none), 0 when there is none.
 */
static int
find_attr(const unsigned char *s, Py_ssize_t i, Py_ssize_t stop, const char *name,
          Py_ssize_t len, Py_ssize_t *value, Py_ssize_t *value_end)
{
    while (i < stop) {
        Py_ssize_t j, k, m;
        int wanted;
        unsigned char c = s[i];
        if (ends_name(c)) {
            i++;
            continue;
        }
        for (j = i + 1; j < stop && !ends_attr_name(s[j]); j++) {
        }
        wanted = j - i == len;
        for (m = 0; wanted && m < len; m++) {
            wanted = (s[i + m] >= 'A' && s[i + m] <= 'Z' ? s[i + m] + ('a' - 'A') : s[i + m]) ==
                     (unsigned char)name[m];
        }
        *value = *value_end = j;
        for (k = j; k < stop && is_space(s[k]); k++) {
        }
        if (k >= stop || s[k] != '=') {
            if (wanted) {
                return 1;
            }
            i = j;
            continue;
        }
        for (k++; k < stop && is_space(s[k]); k++) {
        }
        if (k < stop && (s[k] == '"' || s[k] == '\'')) {
            Py_ssize_t close = find_byte(s, k + 1, stop, s[k]);
            if (close >= 0) {
                *value = k + 1;
                *value_end = close;
                if (wanted) {
                    return 1;
                }
                i = close + 1;
                continue;
            }
        }
        *value = k;
        while (k < stop && !ends_value(s[k])) {
            k++;
        }
        *value_end = k;
        if (wanted) {
            return 1;
        }
        i = k;
    }
    return 0;
}

/* Whether a tag names a src: an external script. */
static int
has_src(const unsigned char *s, Py_ssize_t i, Py_ssize_t stop)
{
    Py_ssize_t value, value_end;
    return find_attr(s, i, stop, "src", 3, &value, &value_end);
}

/*
 * An <input>'s type, as _consider reads it: 1 when it is no image (the input fetches
 * nothing), 0 when it is, -1 when a character reference leaves that to Python.
 */
static int
input_fetches_nothing(const unsigned char *s, Py_ssize_t i, Py_ssize_t stop)
{
    static const char image[] = "image";
    Py_ssize_t value, value_end, k;
    if (!find_attr(s, i, stop, "type", 4, &value, &value_end)) {
        return 1;
    }
    if (memchr(s + value, '&', (size_t)(value_end - value)) != NULL) {
        return -1;
    }
    if (value_end - value != 5) {
        return 1;
    }
    for (k = 0; k < 5; k++) {
        unsigned char c = s[value + k];
        if ((c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c) != (unsigned char)image[k]) {
            return 1;
        }
    }
    return 0;
}

/* A Hold's attributes, named once on import: making their names for every held tag cost as
 * much as the rest of writing it. And an Answers dict's epoch. */
static PyObject *attr_category, *attr_placeholder, *attr_epoch;

/*
 * The index: the key under which the classifier keeps an element's answer, found again by a
 * hash of the element's bytes instead of being built anew (its bytes copied, a text decoded,
 * both hashed by Python) for every element of every page. A page seen before is mostly such
 * elements. Direct-mapped: a slot holds the last key of its hash, so a page whose tags collide
 * costs only the way without it, never more. A hit is checked byte for byte. The answer is
 * read from the classifier's own dict with the key found (a key the dict no longer holds goes
 * to Python as before), except that the slot keeps the answer it read from an Answers dict
 * with that dict's epoch: within an epoch no answer is changed or taken back, so it stands
 * while the dict's epoch is the same, and the dict is not even read. Held forms are pure
 * functions of a tag's bytes and category, so a slot also keeps the last one it wrote.
 */
#define INDEX_SLOTS 8192
/* Bytes of tags and texts the index may keep alive beyond what the dicts keep. */
#define INDEX_BUDGET ((Py_ssize_t)8 * 1024 * 1024)

typedef struct {
    uint64_t hash;
    PyObject *key; /* (tag, text str or None, base str or None), tag as same_tag; NULL: free */
    PyObject *category; /* the category of the held form in parts, or NULL */
    PyObject *parts;    /* _HELD_TAGS' (before, after) for key's tag and category */
    Py_ssize_t parts_size; /* their bytes */
    uint64_t epoch;     /* the Answers epoch answer was read in; 0: none */
    PyObject *answer;   /* the answer read then, or NULL */
    Py_ssize_t answer_size; /* what its placeholder keeps alive */
    PyObject *placeholder;  /* answer's placeholder, once read, with category its category */
    Py_ssize_t size;    /* bytes of tag, text, base, held form and placeholder it keeps alive */
} Slot;

typedef struct {
    Slot *slots;
    Py_ssize_t entries;
    Py_ssize_t bytes;
} Index;

static const uint64_t MULTIPLIER = 0x9E3779B97F4A7C15ull;

/* Not for secrecy: a hit is checked byte for byte. */
static uint64_t
hash_bytes(uint64_t h, const unsigned char *s, Py_ssize_t n)
{
    uint64_t word;
    h ^= (uint64_t)n * MULTIPLIER;
    while (n >= 8) {
        memcpy(&word, s, 8);
        h = (h ^ word) * MULTIPLIER;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    word = 0;
    memcpy(&word, s, (size_t)n);
    h = (h ^ word) * MULTIPLIER;
    return h ^ (h >> 32);
}

static void
clear_slot(Index *index, Slot *slot)
{
    if (slot->key != NULL) {
        index->entries--;
        index->bytes -= slot->size;
    }
    Py_CLEAR(slot->key);
    Py_CLEAR(slot->category);
    Py_CLEAR(slot->parts);
    Py_CLEAR(slot->answer);
    Py_CLEAR(slot->placeholder);
    slot->hash = 0;
    slot->epoch = 0;
    slot->answer_size = 0;
    slot->parts_size = 0;
    slot->size = 0;
}

static void
clear_index(Index *index)
{
    Py_ssize_t i;
    if (index->slots == NULL) {
        return;
    }
    for (i = 0; i < INDEX_SLOTS; i++) {
        clear_slot(index, &index->slots[i]);
    }
}

/* Whether the str text (from a Latin-1 decoding) holds exactly the bytes s[0:len]. */
static int
same_text(PyObject *text, const unsigned char *s, Py_ssize_t len)
{
    return PyUnicode_CheckExact(text) && PyUnicode_IS_READY(text) &&
           PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND && PyUnicode_GET_LENGTH(text) == len &&
           memcmp(PyUnicode_1BYTE_DATA(text), s, (size_t)len) == 0;
}

/* Whether bytes holds exactly s[0:len]. */
static inline int
same_bytes(PyObject *bytes, const unsigned char *s, Py_ssize_t len)
{
    return PyBytes_CheckExact(bytes) && PyBytes_GET_SIZE(bytes) == len &&
           memcmp(PyBytes_AS_STRING(bytes), s, (size_t)len) == 0;
}

/*
 * Whether raw, a key's tag, is that of the tag s[p:end]: its bytes, or, for a tag whose
 * nonce's value lies at s[nonce[0]:nonce[1]], the pair of bytes before and after that value.
 */
static int
same_tag(PyObject *raw, const unsigned char *s, Py_ssize_t p, Py_ssize_t end,
         const Py_ssize_t *nonce)
{
    if (nonce[0] < 0) {
        return same_bytes(raw, s + p, end - p);
    }
    return PyTuple_CheckExact(raw) && PyTuple_GET_SIZE(raw) == 2 &&
           same_bytes(PyTuple_GET_ITEM(raw, 0), s + p, nonce[0] - p) &&
           same_bytes(PyTuple_GET_ITEM(raw, 1), s + nonce[1], end - nonce[1]);
}

/* Whether slot holds the key of tag s[p:end] (with its nonce's value at nonce, see
 * same_tag), inline text s[text_at:text_end] (none with text_at < 0) and base. 1, 0, or -1
 * on error. */
static int
slot_matches(Slot *slot, uint64_t hash, const unsigned char *s, Py_ssize_t p, Py_ssize_t end,
             const Py_ssize_t *nonce, Py_ssize_t text_at, Py_ssize_t text_end, PyObject *base)
{
    PyObject *text, *kept_base;
    if (slot->key == NULL || slot->hash != hash) {
        return 0;
    }
    text = PyTuple_GET_ITEM(slot->key, 1);
    kept_base = PyTuple_GET_ITEM(slot->key, 2);
    if (!same_tag(PyTuple_GET_ITEM(slot->key, 0), s, p, end, nonce)) {
        return 0;
    }
    if (text_at < 0 ? text != Py_None : !same_text(text, s + text_at, text_end - text_at)) {
        return 0;
    }
    if (kept_base == base) {
        return 1;
    }
    if (kept_base == Py_None || base == Py_None) {
        return 0;
    }
    return PyObject_RichCompareBool(kept_base, base, Py_EQ);
}

/* The index's hash of an element's key. */
static uint64_t
key_hash(const unsigned char *s, Py_ssize_t p, Py_ssize_t end, const Py_ssize_t *nonce,
         Py_ssize_t text_at, Py_ssize_t text_end, PyObject *base, int *failed)
{
    uint64_t h;
    if (nonce[0] < 0) {
        h = hash_bytes(0, s + p, end - p);
    }
    else {
        h = hash_bytes(hash_bytes(2, s + p, nonce[0] - p), s + nonce[1], end - nonce[1]);
    }
    *failed = 0;
    if (text_at >= 0) {
        h = hash_bytes(h ^ 1, s + text_at, text_end - text_at);
    }
    if (base != Py_None) {
        Py_hash_t base_hash = PyObject_Hash(base); /* a str keeps its hash */
        if (base_hash == -1) {
            *failed = 1;
            return 0;
        }
        h = (h ^ (uint64_t)base_hash) * MULTIPLIER;
        h ^= h >> 32;
    }
    return h;
}

/* What a held answer's placeholder keeps alive, for the index's budget; 0 for no answer. */
static Py_ssize_t
answer_size(PyObject *answer)
{
    PyObject *placeholder;
    Py_ssize_t size = 0;
    if (answer == Py_None) {
        return 0;
    }
    placeholder = PyObject_GetAttr(answer, attr_placeholder);
    if (placeholder == NULL) {
        PyErr_Clear(); /* not an answer the scan can write: it goes to Python anyway */
        return 0;
    }
    if (PyBytes_Check(placeholder)) {
        size = PyBytes_GET_SIZE(placeholder);
    }
    Py_DECREF(placeholder);
    return size;
}

/* Keeps answer, read from an Answers dict in epoch (not 0) for key, in slot, within the
 * budget. */
static void
keep_answer(Index *index, Slot *slot, PyObject *key, uint64_t epoch, PyObject *answer)
{
    Py_ssize_t kept, added = answer_size(answer);
    /* Reading the placeholder may have run code that put another key in the slot. */
    if (slot->key != key) {
        return;
    }
    kept = slot->answer_size;
    if (index->bytes - kept + added > INDEX_BUDGET) {
        return;
    }
    Py_XSETREF(slot->answer, Py_NewRef(answer));
    Py_CLEAR(slot->placeholder); /* read again from this answer when it is written */
    slot->epoch = epoch;
    slot->answer_size = added;
    slot->size += added - kept;
    index->bytes += added - kept;
}

/*
 * The remembered answer for the element whose tag is s[p:end] (its nonce's value at nonce,
 * kept out of the key, see same_tag), whose inline text is s[text_at:text_end] (text_at < 0:
 * none) on a page with base: a new reference, NULL with no
 * exception when there is none, NULL with an exception on error. epoch is known's (0 for a
 * plain dict). *key gets its key (a new reference, or NULL), *slot the index's slot that holds
 * that key (or NULL).
 */
static PyObject *
remembered(Index *index, PyObject *known, uint64_t epoch, const unsigned char *s, Py_ssize_t p,
           Py_ssize_t end, const Py_ssize_t *nonce, Py_ssize_t text_at, Py_ssize_t text_end,
           PyObject *base, PyObject **key, Slot **slot)
{
    PyObject *raw, *text, *answer;
    /* The base too: a page may write a long one, and the key keeps it alive. */
    Py_ssize_t size = (end - p) + (text_at < 0 ? 0 : text_end - text_at) +
                      (base == Py_None ? 0 : PyUnicode_GET_LENGTH(base) * PyUnicode_KIND(base));
    int failed, matches;
    uint64_t hash = key_hash(s, p, end, nonce, text_at, text_end, base, &failed);
    Slot *candidate = index->slots + (hash & (INDEX_SLOTS - 1));
    *key = NULL;
    *slot = NULL;
    if (failed) {
        return NULL;
    }
    matches = slot_matches(candidate, hash, s, p, end, nonce, text_at, text_end, base);
    if (matches < 0) {
        return NULL;
    }
    if (matches) {
        *key = Py_NewRef(candidate->key); /* held across the look-up, whatever it runs */
        *slot = candidate;
        if (epoch != 0 && candidate->epoch == epoch) {
            return Py_NewRef(candidate->answer);
        }
    }
    else {
        if (nonce[0] < 0) {
            raw = PyBytes_FromStringAndSize((const char *)s + p, end - p);
        }
        else {
            raw = Py_BuildValue("(y#y#)", (const char *)s + p, nonce[0] - p,
                                (const char *)s + nonce[1], end - nonce[1]);
        }
        if (raw == NULL) {
            return NULL;
        }
        text = Py_None;
        if (text_at >= 0) {
            text = PyUnicode_DecodeLatin1((const char *)s + text_at, text_end - text_at, NULL);
            if (text == NULL) {
                Py_DECREF(raw);
                return NULL;
            }
        }
        *key = PyTuple_Pack(3, raw, text, base);
        Py_DECREF(raw);
        if (text != Py_None) {
            Py_DECREF(text);
        }
        if (*key == NULL) {
            return NULL;
        }
    }
    answer = PyDict_GetItemWithError(known, *key); /* borrowed */
    if (answer == NULL) {
        return NULL;
    }
    Py_INCREF(answer);
    if (!matches && index->bytes - candidate->size + size <= INDEX_BUDGET) {
        /* Only a key the classifier answered is kept: what it never saw gains nothing. */
        clear_slot(index, candidate);
        candidate->hash = hash;
        candidate->key = Py_NewRef(*key);
        candidate->size = size;
        index->entries++;
        index->bytes += size;
        *slot = candidate;
    }
    if (epoch != 0 && *slot != NULL && (*slot)->key == *key) {
        keep_answer(index, *slot, *key, epoch, answer);
    }
    return answer;
}


/* Where a held tag goes: what rewriter.HtmlRewriter._hold reads and writes. */
typedef struct {
    PyObject *out;       /* the chunk's output list */
    Py_ssize_t emit;     /* input up to here is in out */
    PyObject *held_attr; /* the response's marker attribute */
    PyObject *held_tags; /* rewriter._HELD_TAGS: (tag, name, category) -> (before, after) */
    int body_due;        /* before the body injection, where a held script has no placeholder */
    Py_ssize_t held;     /* tags held by this call */
} Holding;

static int
append_bytes(PyObject *out, const char *data, Py_ssize_t len)
{
    PyObject *piece = PyBytes_FromStringAndSize(data, len);
    int failed;
    if (piece == NULL) {
        return -1;
    }
    failed = PyList_Append(out, piece);
    Py_DECREF(piece);
    return failed;
}

/* Whether two categories (str, as Hold keeps them) are the same. */
static int
same_category(PyObject *kept, PyObject *category)
{
    if (kept == category) {
        return 1;
    }
    return kept != NULL && PyUnicode_CheckExact(kept) && PyUnicode_CheckExact(category) &&
           PyUnicode_Compare(kept, category) == 0;
}

/*
 * Writes the held form of the start tag s[p:end], whose index key is key (its tag first),
 * named name, as _hold would: 1 when done, 0 when its held form is not remembered (Python
 * makes it), -1 on error. slot, if not NULL, is the index's slot that held key. A tag with a
 * nonce (its value at s[nonce[0]:nonce[1]]) has a held form of three parts, the nonce's value
 * going between the first two.
 */
static int
write_held(Holding *h, Index *index, const unsigned char *s, Py_ssize_t p, Py_ssize_t end,
           const Py_ssize_t *nonce, PyObject *key, Slot *slot, const char *name, PyObject *hold)
{
    Py_ssize_t count = nonce[0] < 0 ? 2 : 3, i, added;
    PyObject *category, *placeholder, *held_key, *name_text, *parts;
    int result = 0;
    if (slot != NULL && slot->key == key && slot->answer == hold && slot->placeholder != NULL) {
        /* The answer kept in the slot, read before: a Hold is frozen. */
        category = Py_NewRef(slot->category);
        placeholder = Py_NewRef(slot->placeholder);
    }
    else {
        category = PyObject_GetAttr(hold, attr_category);
        if (category == NULL) {
            return -1;
        }
        placeholder = PyObject_GetAttr(hold, attr_placeholder);
        if (placeholder == NULL) {
            Py_DECREF(category);
            return -1;
        }
    }
    /* What ran above may have put another key in the slot. */
    if (slot != NULL && slot->key != key) {
        slot = NULL;
    }
    if (slot != NULL && same_category(slot->category, category)) {
        parts = slot->parts; /* borrowed */
    }
    else {
        name_text = PyUnicode_FromString(name);
        held_key = name_text == NULL
                       ? NULL
                       : PyTuple_Pack(3, PyTuple_GET_ITEM(key, 0), name_text, category);
        Py_XDECREF(name_text);
        if (held_key == NULL) {
            result = -1;
            goto done;
        }
        parts = PyDict_GetItemWithError(h->held_tags, held_key); /* borrowed */
        Py_DECREF(held_key);
        if (parts == NULL) {
            result = PyErr_Occurred() ? -1 : 0;
            goto done;
        }
    }
    if (!PyBytes_CheckExact(placeholder) || !PyTuple_CheckExact(parts) ||
        PyTuple_GET_SIZE(parts) != count) {
        goto done;
    }
    added = 0;
    for (i = 0; i < count; i++) {
        if (!PyBytes_CheckExact(PyTuple_GET_ITEM(parts, i))) {
            goto done;
        }
        added += PyBytes_GET_SIZE(PyTuple_GET_ITEM(parts, i));
    }
    Py_INCREF(parts);
    if (slot != NULL && slot->parts != parts && slot->key == key) {
        /* The held form depends on the tag's bytes, name and category alone: kept with its
         * key, it stays right whatever _HELD_TAGS forgets. Within the budget, as the rest. */
        if (index->bytes - slot->parts_size + added <= INDEX_BUDGET) {
            slot->size += added - slot->parts_size;
            index->bytes += added - slot->parts_size;
            slot->parts_size = added;
            Py_XSETREF(slot->category, Py_NewRef(category));
            Py_XSETREF(slot->parts, Py_NewRef(parts));
            Py_CLEAR(slot->placeholder);
        }
    }
    /* The answer's own placeholder (counted with it): no attribute read for it next time. */
    if (slot != NULL && slot->key == key && slot->answer == hold && slot->placeholder == NULL &&
        same_category(slot->category, category)) {
        slot->placeholder = Py_NewRef(placeholder);
    }
    if ((p > h->emit && append_bytes(h->out, (const char *)s + h->emit, p - h->emit) < 0) ||
        (PyBytes_GET_SIZE(placeholder) > 0 && !(h->body_due && strcmp(name, "script") == 0) &&
         PyList_Append(h->out, placeholder) < 0) ||
        PyList_Append(h->out, PyTuple_GET_ITEM(parts, 0)) < 0 ||
        (count == 3 &&
         (append_bytes(h->out, (const char *)s + nonce[0], nonce[1] - nonce[0]) < 0 ||
          PyList_Append(h->out, PyTuple_GET_ITEM(parts, 1)) < 0)) ||
        PyList_Append(h->out, h->held_attr) < 0 ||
        PyList_Append(h->out, PyTuple_GET_ITEM(parts, count - 1)) < 0) {
        result = -1;
    }
    else {
        h->emit = end;
        h->held++;
        result = 1;
    }
    Py_DECREF(parts);
done:
    Py_DECREF(category);
    Py_DECREF(placeholder);
    return result;
}

/* What one call of scan reads and where it writes. */
typedef struct {
    const unsigned char *s;
    PyObject *known; /* the classifier's answers; None: none; True: "hold nothing" for all */
    PyObject *base;
    Holding *h;     /* NULL: nothing is written, only harmless plain elements are taken */
    Py_ssize_t cap; /* the inline script limit; -1 when scripts are left to Python */
    Index *index;
    uint64_t epoch; /* known's epoch when it is an Answers dict, else 0 */
    PyObject *body_injection; /* what goes after <body> while it is due, or NULL */
    int injected;             /* whether this call put it there */
    int settle; /* a stop at a candidate known to lie in text returns *pos at it */
} Scanning;

static int run(Scanning *c, Py_ssize_t *pos, Py_ssize_t n, int raw_noscript, Py_ssize_t *p);

/*
 * A <noscript> whose start tag ends at end, read as raw text (raw_noscript) or as markup. As
 * markup it changes nothing. As raw text its content is what a browser without scripts reads
 * as markup: the rewriter reads it with a nested rewriter, here with the same scan bounded by
 * its end tag, and takes it only if everything in it is taken (else what was written for it
 * is taken back and Python reads it all). 1 with *next where the scan goes on; 0; -1.
 */
static int
take_noscript(Scanning *c, Py_ssize_t n, Py_ssize_t end, int raw_noscript, Py_ssize_t *next)
{
    Holding *h = c->h;
    Py_ssize_t close, inner_pos = end, inner_p, written, emit, held;
    int body_due, failed;
    if (h == NULL) {
        return 0;
    }
    if (!raw_noscript) {
        *next = end;
        return 1;
    }
    if (c->cap < 0) {
        return 0;
    }
    close = end_tag_from(c->s, end, n, "noscript", 8);
    if (close < 0) {
        return 0;
    }
    written = PyList_GET_SIZE(h->out);
    emit = h->emit;
    held = h->held;
    body_due = h->body_due;
    h->body_due = 0; /* the nested rewriter reads its text as the body's */
    failed = run(c, &inner_pos, close, 0, &inner_p);
    h->body_due = body_due;
    if (failed) {
        return -1;
    }
    if (inner_p >= 0) {
        h->emit = emit;
        h->held = held;
        return PyList_SetSlice(h->out, written, PY_SSIZE_T_MAX, NULL) < 0 ? -1 : 0;
    }
    *next = close;
    return 1;
}

/*
 * One remembered element at p whose start tag ends at end (just past its '>'): passed by or
 * held, 1 with *next where the scan goes on; 0 when Python must look at it; -1 on error.
 * A script is taken only with h set and a cap of at least 0, and only once its end is here.
 */
static int
take_remembered(Scanning *c, Py_ssize_t n, int kind, Py_ssize_t p, Py_ssize_t name_end,
                Py_ssize_t end, const Py_ssize_t *nonce, int raw_noscript, Py_ssize_t *next)
{
    char name[LONGEST_NAME + 1];
    PyObject *key = NULL, *answer;
    PyObject *known = c->known, *base = c->base;
    Py_ssize_t text_at = -1, text_end = -1;
    Slot *slot;
    const unsigned char *s = c->s;
    Holding *h = c->h;
    Py_ssize_t cap = c->cap;
    int result = 0;
    Py_ssize_t held_end = end;
    *next = end;
    if (kind == NOSCRIPT) {
        return take_noscript(c, n, end, raw_noscript, next);
    }
    if (kind == RAW_TEXT) {
        /* _html_tag judges nothing in a style sheet, a title or the like: only where its text
         * ends matters. While the page may be inside <svg>, that text is markup: Python's. */
        Py_ssize_t close, len = name_end - p - 1;
        if (h == NULL || cap < 0) {
            return 0;
        }
        lower_into(name, s + p + 1, len);
        close = end_tag_from(s, end, n, name, len);
        if (close < 0) {
            return 0;
        }
        *next = close;
        return 1;
    }
    if (kind == INPUT) {
        int nothing = input_fetches_nothing(s, name_end, end - 1);
        if (nothing != 0 || h == NULL) {
            return nothing > 0 && h != NULL;
        }
        strcpy(name, "input");
    }
    else if (kind == IFRAME) {
        /* Raw text up to its end tag follows; while the page may be inside <svg>, Python. */
        Py_ssize_t close;
        if (h == NULL || cap < 0) {
            return 0;
        }
        close = end_tag_from(s, end, n, "iframe", 6);
        if (close < 0) {
            return 0;
        }
        *next = close;
        strcpy(name, "iframe");
    }
    else if (kind == SCRIPT) {
        Py_ssize_t close;
        int external;
        if (h == NULL || cap < 0) {
            return 0;
        }
        external = has_src(s, name_end, end - 1);
        close = script_end(s, end, n);
        if (close < 0 || (!external && close - end > cap)) {
            return 0;
        }
        if (!external) {
            text_at = end;
            text_end = close;
        }
        *next = close;
        strcpy(name, "script");
    }
    else {
        lower_into(name, s + p + 1, name_end - p - 1);
        if (strcmp(name, "image") == 0) {
            strcpy(name, "img"); /* HTML's tree builder reads <image> as <img> */
        }
    }
    if (known == Py_True) {
        /* Nothing can be held (the visitor granted everything): only the element's end
         * matters, as in _consider; its text was not even decoded. */
        return 1;
    }
    answer = remembered(c->index, known, c->epoch, s, p, end, nonce, text_at, text_end, base,
                        &key, &slot);
    if (answer == NULL) {
        result = PyErr_Occurred() ? -1 : 0;
    }
    else if (answer == Py_None) {
        result = 1;
    }
    else if (h != NULL) {
        result = write_held(h, c->index, s, p, held_end, nonce, key, slot, name, answer);
    }
    Py_XDECREF(answer);
    Py_XDECREF(key);
    return result;
}

/* _scanner.FETCH_ATTR.search(s, from, to): a delimiter, then ping, background or xlink:href
 * (case ignored), spaces, and '=' before to. */
static int
fetch_attr_in(const unsigned char *s, Py_ssize_t from, Py_ssize_t to)
{
    Py_ssize_t i, j, len;
    const char *const *name;
    for (i = from; i + 1 < to; i++) {
        if (!is_space(s[i]) && s[i] != '/' && s[i] != '"' && s[i] != '\'') {
            continue;
        }
        for (name = fetch_attr_names; *name != NULL; name++) {
            len = (Py_ssize_t)strlen(*name);
            if (i + 1 + len >= to || !name_is(s + i + 1, *name, len)) {
                continue;
            }
            for (j = i + 1 + len; j < to && is_space(s[j]); j++) {
            }
            if (j < to && s[j] == '=') {
                return 1;
            }
        }
    }
    return 0;
}

/*
 * The <body> start tag at p, while the body's injection is due: what _tag_done does with it,
 * the injection written after it, 1 with *next past it; 0 when Python must read it (inside
 * another tag's attributes maybe, cut by the chunk's end, with an attribute that fetches, or
 * no injection given); -1 on error.
 */
static int
inject_body(Scanning *c, Py_ssize_t pos, Py_ssize_t p, Py_ssize_t n, Py_ssize_t name_end,
            Py_ssize_t last_lt, Py_ssize_t *next)
{
    Holding *h = c->h;
    Py_ssize_t end;
    if (h == NULL || c->body_injection == NULL || needs_closer_look(c->s, pos, p, last_lt)) {
        return 0;
    }
    end = attrs_end(c->s, name_end, n, 0);
    if (end >= n || c->s[end] != '>' || fetch_attr_in(c->s, name_end - 1, end + 1)) {
        return 0;
    }
    end++;
    if ((end > h->emit && append_bytes(h->out, (const char *)c->s + h->emit, end - h->emit) < 0) ||
        PyList_Append(h->out, c->body_injection) < 0) {
        return -1;
    }
    h->emit = end;
    h->body_due = 0;
    c->injected = 1;
    *next = end;
    return 1;
}

/*
 * The "<!" or "<?" at p, as rewriter.HtmlRewriter._declaration reads it after the head: a
 * comment, ended by "-->", "--!>" or at once by "<!-->" and "<!--->", and anything else a
 * bogus comment, ended by the next '>'. 1 with *next past its end; 0 when Python must read it
 * (inside another tag's attributes maybe, or its end not in the buffer, where Python waits).
 */
static int
pass_declaration(const unsigned char *s, Py_ssize_t pos, Py_ssize_t p, Py_ssize_t n,
                 Py_ssize_t last_lt, Py_ssize_t *next)
{
    Py_ssize_t i;
    if (needs_closer_look(s, pos, p, last_lt)) {
        return 0;
    }
    /* Python waits on a start that may yet become "<!--": read only what it reads at once. */
    if (p + 6 > n) {
        return 0;
    }
    if (s[p + 1] == '!' && s[p + 2] == '-' && s[p + 3] == '-') {
        if (s[p + 4] == '>') {
            *next = p + 5;
            return 1;
        }
        if (s[p + 4] == '-' && s[p + 5] == '>') {
            *next = p + 6;
            return 1;
        }
        /* _scanner.COMMENT_END: "--", an optional '!', then '>'. */
        for (i = p + 4; i + 2 < n; i++) {
            const unsigned char *dash = memchr(s + i, '-', (size_t)(n - i - 2));
            if (dash == NULL) {
                return 0;
            }
            i = dash - s;
            if (s[i + 1] == '-') {
                if (s[i + 2] == '>') {
                    *next = i + 3;
                    return 1;
                }
                if (s[i + 2] == '!' && i + 3 < n && s[i + 3] == '>') {
                    *next = i + 4;
                    return 1;
                }
            }
        }
        return 0;
    }
    i = find_byte(s, p + 2, n, '>');
    if (i < 0) {
        return 0;
    }
    *next = i + 1;
    return 1;
}

/*
 * A stop at the candidate p, which needs no closer look: with settle, *pos moves to it, and
 * the caller's loop, finding nothing between, need not test again what was tested here.
 */
static inline int
settled(const Scanning *c, Py_ssize_t *pos, Py_ssize_t p)
{
    if (c->settle) {
        *pos = p;
    }
    return 0;
}

/*
 * The scan from *pos up to n: *pos ends where it stopped, *p is the candidate it stopped at
 * (-1 when none is left). 0, or -1 on error.
 */
static int
run(Scanning *c, Py_ssize_t *pos, Py_ssize_t n, int raw_noscript, Py_ssize_t *p)
{
    const unsigned char *s = c->s;
    int body_due = c->h != NULL && c->h->body_due;
    for (;;) {
        int kind = NOT_SEARCHED, taken;
        Py_ssize_t name_end = -1, last_lt, end, next, nonce[2];
        *p = next_candidate(s, *pos, n, body_due, &kind, &name_end, &last_lt);
        if (*p >= 0 && kind == BODY) {
            taken = inject_body(c, *pos, *p, n, name_end, last_lt, &next);
            if (taken <= 0) {
                return taken;
            }
            body_due = 0;
            *pos = next;
            if (c->known == Py_True || c->known == Py_None) {
                /* Nothing is held from here on (or the scan takes nothing): Python goes on. */
                *p = -1;
                return 0;
            }
            continue;
        }
        if (*p >= 0 && kind == DECLARATION && c->known != Py_None) {
            if (!pass_declaration(s, *pos, *p, n, last_lt, &next)) {
                return 0;
            }
            *pos = next;
            continue;
        }
        if (*p < 0 || needs_closer_look(s, *pos, *p, last_lt)) {
            return 0;
        }
        if (kind == SEARCHED || kind == DECLARATION || kind == FOREIGN_SVG ||
            kind == FOREIGN_MATH || c->known == Py_None) {
            return settled(c, pos, *p);
        }
        nonce[0] = nonce[1] = -1;
        end = attrs_walk(s, name_end, n, 0, nonce);
        if (end >= n || s[end] != '>') {
            return settled(c, pos, *p);
        }
        taken = take_remembered(c, n, kind, *p, name_end, end + 1, nonce, raw_noscript, &next);
        if (taken <= 0) {
            return taken < 0 ? taken : settled(c, pos, *p);
        }
        *pos = next;
    }
}

/* The module's state: its index. */
typedef struct {
    Index index;
} ModuleState;

static Index *
module_index(PyObject *module)
{
    return &((ModuleState *)PyModule_GetState(module))->index;
}

static PyObject *
scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    const unsigned char *s;
    Py_ssize_t n, pos, p = -1, cap = -1;
    PyObject *known, *base;
    Holding holding = {NULL, 0, NULL, NULL, 0, 0};
    Holding *h = NULL;
    Scanning scanning;
    uint64_t epoch = 0;
    int raw_noscript = 0, failed;
    (void)module;
    if (nargs != 4 && nargs != 11 && nargs != 12 && nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "scan() takes 4, 11, 12 or 13 arguments");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    known = args[2];
    base = args[3];
    if (known != Py_None && known != Py_True && !PyDict_CheckExact(known)) {
        PyObject *epoch_value = PyDict_Check(known) ? PyObject_GetAttr(known, attr_epoch) : NULL;
        if (epoch_value == NULL || !PyLong_CheckExact(epoch_value)) {
            Py_XDECREF(epoch_value);
            PyErr_Clear();
            PyErr_SetString(PyExc_TypeError,
                            "known must be a dict, an Answers dict, True or None");
            return NULL;
        }
        epoch = PyLong_AsUnsignedLongLong(epoch_value);
        Py_DECREF(epoch_value);
        if (PyErr_Occurred() || epoch == 0) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "an Answers epoch is a positive 64-bit integer");
            return NULL;
        }
    }
    if (base != Py_None && !PyUnicode_CheckExact(base)) {
        PyErr_SetString(PyExc_TypeError, "base must be a str or None");
        return NULL;
    }
    scanning.body_injection = NULL;
    scanning.injected = 0;
    scanning.settle = 0;
    if (nargs == 13) {
        scanning.settle = PyObject_IsTrue(args[12]);
        if (scanning.settle < 0) {
            return NULL;
        }
    }
    if (nargs >= 12 && args[11] != Py_None) {
        if (!PyBytes_CheckExact(args[11])) {
            PyErr_SetString(PyExc_TypeError, "body_injection must be bytes or None");
            return NULL;
        }
        scanning.body_injection = args[11];
    }
    if (nargs >= 11) {
        h = &holding;
        raw_noscript = PyObject_IsTrue(args[10]);
        if (raw_noscript < 0) {
            return NULL;
        }
        cap = PyLong_AsSsize_t(args[8]);
        if (cap == -1 && PyErr_Occurred()) {
            return NULL;
        }
        holding.body_due = PyObject_IsTrue(args[9]);
        if (holding.body_due < 0) {
            return NULL;
        }
        holding.out = args[4];
        holding.emit = PyLong_AsSsize_t(args[5]);
        holding.held_attr = args[6];
        holding.held_tags = args[7];
        if (holding.emit == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (!PyList_CheckExact(holding.out) || !PyBytes_CheckExact(holding.held_attr) ||
            !PyDict_CheckExact(holding.held_tags)) {
            PyErr_SetString(PyExc_TypeError,
                            "out, held_attr and held_tags must be a list, bytes and a dict");
            return NULL;
        }
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    s = view.buf;
    n = view.len;
    if (pos < 0 || pos > n || (h != NULL && holding.emit < 0)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return NULL;
    }
    scanning.s = s;
    scanning.known = known;
    scanning.base = base;
    scanning.h = h;
    scanning.cap = cap;
    scanning.index = module_index(module);
    scanning.epoch = epoch;
    failed = run(&scanning, &pos, n, raw_noscript, &p);
    PyBuffer_Release(&view);
    if (failed) {
        return NULL;
    }
    if (h == NULL) {
        return Py_BuildValue("(nn)", pos, p);
    }
    return Py_BuildValue("(nnnnO)", pos, p, holding.emit, holding.held,
                         scanning.injected ? Py_True : Py_False);
}

/* The buffer of args[0] and a position args[1] inside it; -1 with an exception set if not. */
static int
open_at(PyObject *const *args, Py_buffer *view, Py_ssize_t *pos)
{
    *pos = PyLong_AsSsize_t(args[1]);
    if (*pos == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (PyObject_GetBuffer(args[0], view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (*pos < 0 || *pos > view->len) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "pos out of range");
        return -1;
    }
    return 0;
}

static PyObject *
py_attrs_end(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos, end;
    int inert = 0;
    (void)module;
    if (nargs != 2 && nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "attrs_end() takes 2 or 3 arguments");
        return NULL;
    }
    if (nargs == 3 && (inert = PyObject_IsTrue(args[2])) < 0) {
        return NULL;
    }
    if (open_at(args, &view, &pos) < 0) {
        return NULL;
    }
    end = attrs_end(view.buf, pos, view.len, inert);
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(end);
}

static PyObject *
py_is_inert(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t pos;
    const char *name;
    Py_ssize_t size;
    int inert;
    (void)module;
    if (nargs != 3 || !PyUnicode_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "is_inert() takes a buffer, a position and a name");
        return NULL;
    }
    name = PyUnicode_AsUTF8AndSize(args[2], &size);
    if (name == NULL) {
        return NULL;
    }
    if (!((size == 3 && memcmp(name, "svg", 3) == 0) ||
          (size == 4 && memcmp(name, "math", 4) == 0))) {
        PyErr_SetString(PyExc_ValueError, "name must be svg or math");
        return NULL;
    }
    if (open_at(args, &view, &pos) < 0) {
        return NULL;
    }
    inert = is_inert(view.buf, pos, view.len, name);
    PyBuffer_Release(&view);
    return PyBool_FromLong(inert);
}

static PyObject *
py_index_info(PyObject *module, PyObject *unused)
{
    Index *index = module_index(module);
    (void)unused;
    return Py_BuildValue("(nnnn)", index->entries, index->bytes, (Py_ssize_t)INDEX_SLOTS,
                         INDEX_BUDGET);
}

static PyObject *
py_index_clear(PyObject *module, PyObject *unused)
{
    (void)unused;
    clear_index(module_index(module));
    Py_RETURN_NONE;
}

static PyObject *
names_tuple(const char *const *list)
{
    Py_ssize_t count = 0, i;
    PyObject *out;
    while (list[count] != NULL) {
        count++;
    }
    out = PyTuple_New(count);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0; i < count; i++) {
        PyObject *name = PyUnicode_FromString(list[i]);
        if (name == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        PyTuple_SET_ITEM(out, i, name);
    }
    return out;
}

/* html.unescape, read once: character references in a value are decoded as Python does. */
static PyObject *unescape;

/* _scanner.decode_value of the value s[0:len] as written: its quotes taken off, Latin-1
 * decoded, character references decoded when it holds a '&'. */
static PyObject *
decode_value(const unsigned char *s, Py_ssize_t len)
{
    PyObject *text, *decoded;
    if (len > 0 && (s[0] == '"' || s[0] == '\'')) {
        /* raw[1:-1], whether or not the last byte is a quote. */
        s++;
        len = len >= 2 ? len - 2 : 0;
    }
    text = PyUnicode_DecodeLatin1((const char *)s, len, NULL);
    if (text == NULL || len == 0 || memchr(s, '&', (size_t)len) == NULL) {
        return text;
    }
    decoded = PyObject_CallOneArg(unescape, text);
    Py_DECREF(text);
    return decoded;
}

/* The name s[0:len] as _scanner.parse_attrs keys it: ASCII letters lower-cased, Latin-1. */
static PyObject *
attr_name(const unsigned char *s, Py_ssize_t len)
{
    char small[129];
    char *lower = len < (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc((size_t)len + 1);
    PyObject *name;
    if (lower == NULL) {
        return PyErr_NoMemory();
    }
    lower_into(lower, s, len);
    name = PyUnicode_DecodeLatin1(lower, len, NULL);
    if (lower != small) {
        PyMem_Free(lower);
    }
    return name;
}

/*
 * _scanner.parse_attrs: every match of _scanner.ATTR from start to end (finditer's pos and
 * endpos), the first of a name kept, its value decoded (None without one). ATTR, step by
 * step: a name, a first byte that is no space, '/' or '>' and then none of those or '='; then
 * optionally spaces, '=', spaces and a value: a quoted one if its quote closes before end,
 * else whatever runs up to a space or '>' (a quote included), possibly nothing.
 */
static PyObject *
parse_attrs(const unsigned char *s, Py_ssize_t i, Py_ssize_t n)
{
    PyObject *attrs = PyDict_New();
    if (attrs == NULL) {
        return NULL;
    }
    while (i < n) {
        Py_ssize_t name_start = i, j, k, value_end = -1, value_start = -1;
        PyObject *name, *value;
        int found;
        if (ends_name(s[i])) {
            i++; /* no match starts here: finditer moves on a byte */
            continue;
        }
        for (j = i + 1; j < n && !ends_attr_name(s[j]); j++) {
        }
        i = j;
        for (k = j; k < n && is_space(s[k]); k++) {
        }
        if (k < n && s[k] == '=') {
            for (k++; k < n && is_space(s[k]); k++) {
            }
            value_start = k;
            if (k < n && (s[k] == '"' || s[k] == '\'')) {
                Py_ssize_t close = find_byte(s, k + 1, n, s[k]);
                if (close >= 0) {
                    value_end = close + 1;
                }
            }
            if (value_end < 0) {
                for (value_end = k; value_end < n && !ends_value(s[value_end]); value_end++) {
                }
            }
            i = value_end;
        }
        name = attr_name(s + name_start, j - name_start);
        if (name == NULL) {
            goto failed;
        }
        found = PyDict_Contains(attrs, name);
        if (found == 0) {
            value = value_start < 0 ? Py_NewRef(Py_None)
                                    : decode_value(s + value_start, value_end - value_start);
            found = value == NULL ? -1 : PyDict_SetItem(attrs, name, value);
            Py_XDECREF(value);
        }
        Py_DECREF(name);
        if (found < 0) {
            goto failed;
        }
    }
    return attrs;
failed:
    Py_DECREF(attrs);
    return NULL;
}

static PyObject *
py_parse_attrs(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer view;
    Py_ssize_t start, end;
    PyObject *attrs;
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "parse_attrs() takes a buffer, a start and an end");
        return NULL;
    }
    start = PyLong_AsSsize_t(args[1]);
    end = start == -1 && PyErr_Occurred() ? -1 : PyLong_AsSsize_t(args[2]);
    if (PyErr_Occurred()) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    /* As a pattern's pos and endpos: each held to the buffer. */
    start = start < 0 ? 0 : start > view.len ? view.len : start;
    end = end < 0 ? 0 : end > view.len ? view.len : end;
    attrs = parse_attrs(view.buf, start, end);
    PyBuffer_Release(&view);
    return attrs;
}

/*
 * Literals: many literal strings looked for at once in a str, for the catalogue's inline
 * searches (catalogue.LiteralSearch). It answers as a regular expression made of the literals'
 * alternation would, at the earliest start, the longest literal starting there; with follow,
 * only a literal followed by one of follow's characters or by the end of the text counts,
 * as with a lookahead after the alternation. Script text is decoded from latin-1, so it is
 * searched byte by byte; text of a wider kind is left to the expression (NotImplemented).
 */
#define QUAD_BITS 16

typedef struct {
    Py_ssize_t offset; /* where its characters start in Literals.chars */
    Py_ssize_t length;
    Py_ssize_t number; /* its place in the list the object was made from */
    uint16_t pair;     /* its first two characters; a one-character literal has none */
} Literal;

typedef struct {
    PyObject_HEAD
    Literal *literals;        /* two-character or longer, by pair, then longest first */
    Py_ssize_t count;
    Py_UCS1 *chars;
    Py_ssize_t singles[256];  /* the one-character literal of each character, or -1 */
    uint8_t pairs[65536 / 8]; /* the pairs that start some literal */
    /* Most pairs that start a literal also stand in ordinary script text ('.c', '("'): the
     * first four characters of the literals of four or more, hashed, turn those away, except
     * at pairs that start a shorter literal. */
    uint8_t short_pairs[65536 / 8];
    uint8_t quads[(1 << QUAD_BITS) / 8];
    uint8_t follow[256]; /* with has_follow: which characters may follow a match */
    int has_follow;
} Literals;

static inline int
bit_set(const uint8_t *bits, size_t k)
{
    return bits[k >> 3] & (1 << (k & 7));
}

static inline void
set_bit(uint8_t *bits, size_t k)
{
    bits[k >> 3] |= (uint8_t)(1 << (k & 7));
}

/* Four characters, which the caller has checked are there, hashed to QUAD_BITS bits. */
static inline size_t
quad_hash(const Py_UCS1 *p)
{
    uint32_t quad = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
    return (size_t)((quad * 2654435761u) >> (32 - QUAD_BITS));
}

static int
literal_order(const void *left, const void *right)
{
    const Literal *a = left, *b = right;
    if (a->pair != b->pair) {
        return a->pair < b->pair ? -1 : 1;
    }
    if (a->length != b->length) {
        return a->length > b->length ? -1 : 1;
    }
    /* A literal given twice is the first of its copies, as the expression's lookup gives. */
    return a->number < b->number ? -1 : a->number > b->number;
}

static void
literals_dealloc(PyObject *self)
{
    Literals *lits = (Literals *)self;
    PyTypeObject *type = Py_TYPE(self);
    PyMem_Free(lits->literals);
    PyMem_Free(lits->chars);
    type->tp_free(self);
    Py_DECREF(type);
}

static PyObject *
literals_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"words", "follow", NULL};
    PyObject *words, *follow = Py_None, *seq;
    Literals *lits;
    Py_ssize_t n, i, total = 0, kept = 0, at = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|O:Literals", keywords, &words, &follow)) {
        return NULL;
    }
    if (follow != Py_None && !(PyUnicode_Check(follow) && PyUnicode_IS_READY(follow))) {
        PyErr_SetString(PyExc_TypeError, "Literals() follow must be a str or None");
        return NULL;
    }
    /* A tuple of its own: a list could change while the object is made (the allocation may
     * run a collection, and a finalizer any code), and its sizes are counted first. */
    seq = PySequence_Tuple(words);
    if (seq == NULL) {
        return NULL;
    }
    n = PyTuple_GET_SIZE(seq);
    for (i = 0; i < n; i++) {
        PyObject *word = PyTuple_GET_ITEM(seq, i);
        if (!PyUnicode_Check(word) || !PyUnicode_IS_READY(word)) {
            PyErr_SetString(PyExc_TypeError, "Literals() takes a sequence of str");
            Py_DECREF(seq);
            return NULL;
        }
        if (PyUnicode_GET_LENGTH(word) == 0) {
            /* The empty literal matches everywhere: no use, and no answer an index can give. */
            PyErr_SetString(PyExc_ValueError, "Literals() takes no empty str");
            Py_DECREF(seq);
            return NULL;
        }
        /* A literal with a character past latin-1 never stands in a latin-1 text. */
        if (PyUnicode_KIND(word) == PyUnicode_1BYTE_KIND) {
            total += PyUnicode_GET_LENGTH(word);
        }
    }
    lits = (Literals *)type->tp_alloc(type, 0);
    if (lits == NULL) {
        Py_DECREF(seq);
        return NULL;
    }
    lits->literals = PyMem_New(Literal, n > 0 ? n : 1);
    lits->chars = PyMem_Malloc(total > 0 ? (size_t)total : 1);
    if (lits->literals == NULL || lits->chars == NULL) {
        Py_DECREF(seq);
        Py_DECREF(lits);
        return PyErr_NoMemory();
    }
    for (i = 0; i < 256; i++) {
        lits->singles[i] = -1;
    }
    for (i = 0; i < n; i++) {
        PyObject *word = PyTuple_GET_ITEM(seq, i);
        Py_ssize_t length = PyUnicode_GET_LENGTH(word);
        const Py_UCS1 *data;
        if (PyUnicode_KIND(word) != PyUnicode_1BYTE_KIND) {
            continue;
        }
        data = PyUnicode_1BYTE_DATA(word);
        if (length == 1) {
            if (lits->singles[data[0]] < 0) {
                lits->singles[data[0]] = i;
            }
            continue;
        }
        memcpy(lits->chars + at, data, (size_t)length);
        lits->literals[kept].offset = at;
        lits->literals[kept].length = length;
        lits->literals[kept].number = i;
        lits->literals[kept].pair = (uint16_t)(data[0] << 8 | data[1]);
        set_bit(lits->pairs, lits->literals[kept].pair);
        if (length < 4) {
            set_bit(lits->short_pairs, lits->literals[kept].pair);
        } else {
            set_bit(lits->quads, quad_hash(data));
        }
        at += length;
        kept++;
    }
    Py_DECREF(seq);
    lits->count = kept;
    qsort(lits->literals, (size_t)kept, sizeof(Literal), literal_order);
    if (follow != Py_None) {
        Py_ssize_t length = PyUnicode_GET_LENGTH(follow);
        lits->has_follow = 1;
        for (i = 0; i < length; i++) {
            Py_UCS4 c = PyUnicode_READ_CHAR(follow, i);
            /* Characters past latin-1 cannot follow in a latin-1 text. */
            if (c < 256) {
                lits->follow[c] = 1;
            }
        }
    }
    return (PyObject *)lits;
}

/* Whether the literal matches at i of text, the follow rule included. */
static int
literal_at(const Literals *lits, const Py_UCS1 *text, Py_ssize_t n, Py_ssize_t i,
           Py_ssize_t length, const Py_UCS1 *chars)
{
    if (length > n - i || memcmp(text + i, chars, (size_t)length) != 0) {
        return 0;
    }
    return !lits->has_follow || i + length == n || lits->follow[text[i + length]];
}

/* The first literal (longest first) matching at i, as its place in the list; -1 when none. */
static Py_ssize_t
match_at(const Literals *lits, const Py_UCS1 *text, Py_ssize_t n, Py_ssize_t i,
         Py_ssize_t *length)
{
    Py_ssize_t single = lits->singles[text[i]];
    if (i + 1 < n) {
        uint16_t pair = (uint16_t)(text[i] << 8 | text[i + 1]);
        if (bit_set(lits->pairs, pair)) {
            /* The first literal of this pair: the sorted array searched by halves. */
            Py_ssize_t low = 0, high = lits->count;
            while (low < high) {
                Py_ssize_t middle = low + (high - low) / 2;
                if (lits->literals[middle].pair < pair) {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            for (; low < lits->count && lits->literals[low].pair == pair; low++) {
                const Literal *lit = &lits->literals[low];
                if (literal_at(lits, text, n, i, lit->length, lits->chars + lit->offset)) {
                    *length = lit->length;
                    return lit->number;
                }
            }
        }
    }
    if (single >= 0 && (!lits->has_follow || i + 1 == n || lits->follow[text[i + 1]])) {
        *length = 1;
        return single;
    }
    return -1;
}

/* Whether a literal may start at i: false for most places, after a look at two tables. */
static inline int
literal_may_start(const Literals *lits, const Py_UCS1 *text, Py_ssize_t n, Py_ssize_t i)
{
    size_t pair;
    if (i + 1 >= n) {
        return lits->singles[text[i]] >= 0;
    }
    /* The pair first: scripts are full of characters that start a literal ('.', '(', '_'),
     * far fewer pairs do, and a test that is seldom true is one the processor predicts. */
    pair = (size_t)text[i] << 8 | text[i + 1];
    if (bit_set(lits->pairs, pair) &&
        (bit_set(lits->short_pairs, pair) ||
         (i + 4 <= n && bit_set(lits->quads, quad_hash(text + i))))) {
        return 1;
    }
    return lits->singles[text[i]] >= 0;
}

static PyObject *
literals_search(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    const Literals *lits = (const Literals *)self;
    const Py_UCS1 *text;
    Py_ssize_t n, pos, endpos = PY_SSIZE_T_MAX, i, length = 0;
    if (nargs < 2 || nargs > 3 || !PyUnicode_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "search() takes a str, a position and an end");
        return NULL;
    }
    pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (nargs == 3) {
        endpos = PyLong_AsSsize_t(args[2]);
        if (endpos == -1 && PyErr_Occurred()) {
            return NULL;
        }
    }
    if (!PyUnicode_IS_READY(args[0]) || PyUnicode_KIND(args[0]) != PyUnicode_1BYTE_KIND) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    text = PyUnicode_1BYTE_DATA(args[0]);
    n = PyUnicode_GET_LENGTH(args[0]);
    /* As a pattern's endpos: the text is read as if it ended there. */
    n = endpos < 0 ? 0 : endpos < n ? endpos : n;
    /* As a pattern's pos: a negative one is the start. */
    for (i = pos < 0 ? 0 : pos; i < n; i++) {
        if (!literal_may_start(lits, text, n, i)) {
            continue;
        }
        Py_ssize_t number = match_at(lits, text, n, i, &length);
        if (number >= 0) {
            return Py_BuildValue("(nnn)", i, i + length, number);
        }
    }
    Py_RETURN_NONE;
}

static PyMethodDef literals_methods[] = {
    {"search", (PyCFunction)(void (*)(void))literals_search, METH_FASTCALL,
     "search(text, pos, endpos=len(text)) -> (start, end, number) | None: the earliest match "
     "at or after pos in text[:endpos], the longest literal there; NotImplemented for text "
     "wider than latin-1."},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot literals_slots[] = {
    {Py_tp_new, literals_new},
    {Py_tp_dealloc, literals_dealloc},
    {Py_tp_methods, literals_methods},
    {Py_tp_doc, "Literals(words, follow=None): literal strings searched for at once."},
    {0, NULL},
};

static PyType_Spec literals_spec = {
    .name = "consent._speedups.Literals",
    .basicsize = sizeof(Literals),
    .flags = Py_TPFLAGS_DEFAULT,
    .slots = literals_slots,
};

static PyMethodDef methods[] = {
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(buf, pos, known, base) -> (pos, p): pass over remembered harmless plain "
     "elements from pos; p is where the next candidate starts, -1 when none is left.\n"
     "scan(buf, pos, known, base, out, emit, held_attr, held_tags, cap, body_due, "
     "raw_noscript, body_injection=None, settle=False) -> (pos, p, emit, held, injected): also write remembered held tags to out, and take "
     "scripts whose end is in buf (inline ones up to cap bytes; none when cap < 0) and "
     "<noscript>, <iframe> and <input> elements; with body_due, stop where SEARCH_BODY would. "
     "known may be an Answers dict (a dict with an epoch), whose answers the scan keeps. "
     "With body_due and body_injection, also write it after a plain <body> start tag and go "
     "on as after it (stopping there when known is True or None): injected says so. With "
     "settle, a stop at a candidate that lies in text for certain (no closer look needed) "
     "gives pos = p."},
    {"attrs_end", (PyCFunction)(void (*)(void))py_attrs_end, METH_FASTCALL,
     "attrs_end(buf, pos, inert=False) -> int: where _scanner.ATTRS (or _INERT_ATTRS) "
     "matched at pos ends."},
    {"is_inert", (PyCFunction)(void (*)(void))py_is_inert, METH_FASTCALL,
     "is_inert(buf, pos, name) -> bool: whether _scanner.INERT_FOREIGN[name] matches at pos."},
    {"index_info", py_index_info, METH_NOARGS,
     "index_info() -> (entries, bytes, slots, budget): what the index of remembered keys "
     "holds, and its bounds."},
    {"index_clear", py_index_clear, METH_NOARGS, "index_clear(): forgets every indexed key."},
    {"parse_attrs", (PyCFunction)(void (*)(void))py_parse_attrs, METH_FASTCALL,
     "parse_attrs(buf, start, end) -> dict: _scanner.parse_attrs, the same names and values."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    Index *index = module_index(module);
    index->slots = PyMem_Calloc(INDEX_SLOTS, sizeof(Slot));
    if (index->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (attr_category == NULL) {
        attr_category = PyUnicode_InternFromString("category");
        attr_placeholder = PyUnicode_InternFromString("placeholder");
        attr_epoch = PyUnicode_InternFromString("epoch");
        if (attr_category == NULL || attr_placeholder == NULL || attr_epoch == NULL) {
            return -1;
        }
    }
    if (unescape == NULL) {
        PyObject *html = PyImport_ImportModule("html");
        unescape = html == NULL ? NULL : PyObject_GetAttrString(html, "unescape");
        Py_XDECREF(html);
        if (unescape == NULL) {
            return -1;
        }
    }
    mark(searched_names, IN_SEARCHED);
    mark(plain_names, IN_PLAIN);
    mark(foreign_names, IN_FOREIGN);
    mark(fetching_names, IN_FETCHING);
    mark_after_lt();
    PyObject *searched = names_tuple(searched_names);
    PyObject *plain = names_tuple(plain_names);
    PyObject *foreign = names_tuple(foreign_names);
    PyObject *raw_text = names_tuple(raw_text_names);
    PyObject *fetch_attr = names_tuple(fetch_attr_names);
    int failed = searched == NULL || plain == NULL || foreign == NULL || raw_text == NULL ||
                 fetch_attr == NULL ||
                 PyModule_AddObjectRef(module, "SEARCHED", searched) < 0 ||
                 PyModule_AddObjectRef(module, "PLAIN", plain) < 0 ||
                 PyModule_AddObjectRef(module, "FOREIGN", foreign) < 0 ||
                 PyModule_AddObjectRef(module, "RAW_TEXT", raw_text) < 0 ||
                 PyModule_AddObjectRef(module, "FETCH_ATTR", fetch_attr) < 0;
    Py_XDECREF(searched);
    Py_XDECREF(plain);
    Py_XDECREF(foreign);
    Py_XDECREF(raw_text);
    Py_XDECREF(fetch_attr);
    if (failed) {
        return -1;
    }
    PyObject *literals = PyType_FromSpec(&literals_spec);
    failed = literals == NULL || PyModule_AddObjectRef(module, "Literals", literals) < 0;
    Py_XDECREF(literals);
    return failed ? -1 : 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, (void *)exec_module},
    {0, NULL},
};

static int
traverse_module(PyObject *module, visitproc visit, void *arg)
{
    Index *index = module_index(module);
    Py_ssize_t i;
    if (index->slots == NULL) {
        return 0;
    }
    for (i = 0; i < INDEX_SLOTS; i++) {
        Py_VISIT(index->slots[i].key);
        Py_VISIT(index->slots[i].category);
        Py_VISIT(index->slots[i].parts);
        Py_VISIT(index->slots[i].answer);
        Py_VISIT(index->slots[i].placeholder);
    }
    return 0;
}

static int
clear_module(PyObject *module)
{
    clear_index(module_index(module));
    return 0;
}

static void
free_module(void *module)
{
    Index *index = module_index((PyObject *)module);
    clear_index(index);
    PyMem_Free(index->slots);
    index->slots = NULL;
}

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT,
    .m_name = "consent._speedups",
    .m_doc = "Compiled fast path of the HTML rewriter; consent.rewriter falls back without it.",
    .m_size = sizeof(ModuleState),
    .m_traverse = traverse_module,
    .m_clear = clear_module,
    .m_free = free_module,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModuleDef_Init(&definition);
}
