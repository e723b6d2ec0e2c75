// MIL data: the three readers on files the tests write, the packed writer,
// CLAM -> packed import, float16 conversion, bags larger than a chunk.
#include "test_mil_data_helpers.h"

TestSuite(mil_data, .init = tmp_setup, .fini = tmp_teardown);

// A CLAM/TRIDENT feature folder (h5_files/ inside it), float32 and float16
// slides, class-name labels, extra CSV columns, a slide file the CSV does not list.
Test(mil_data, clam_folder_with_names_f16_and_extra_columns) {
    mkdir_p(tp("feats"));
    mkdir_p(tp("feats/h5_files"));
    mkdir_p(tp("feats/pt_files"));
    const char *dir = tp("feats/h5_files");
    clam_opts o = clam_default();
    write_clam(dir, "TCGA-01", 1, 5, 7, o);
    o.f16 = 1;
    write_clam(dir, "TCGA-02", 2, 1, 7, o);
    o.f16 = 0;
    o.coords = 2;
    o.gzip = 3;
    write_clam(dir, "TCGA-03", 3, 33, 7, o);
    write_clam(dir, "unlisted", 4, 3, 7, clam_default());
    write_text(tp("slides.csv"), "case_id,slide_id,label,site\n"
                                 "c1,TCGA-03,tumor,lung\n"
                                 "c1,TCGA-01,normal,lung\n"
                                 "c2,TCGA-02,tumor,\"lung, left\"\n");
    lt_mil_dataset *ds = open_ok(tp("feats"), tp("slides.csv"), LT_MIL_AUTO);
    cr_assert_eq(lt_mil_layout_of(ds), LT_MIL_CLAM);
    cr_assert_eq(lt_mil_count(ds), 3);
    cr_assert_eq(lt_mil_dim(ds), 7);
    cr_assert_eq(lt_mil_n_classes(ds), 2);
    cr_assert_str_eq(lt_mil_class_name(ds, 0), "normal");
    cr_assert_str_eq(lt_mil_class_name(ds, 1), "tumor");
    cr_assert_null(lt_mil_class_name(ds, 2));
    cr_assert_eq(lt_mil_max_instances(ds), 33);
    cr_assert_eq(lt_mil_ignored_files(ds), 1);
    const char *want_id[3] = {"TCGA-03", "TCGA-01", "TCGA-02"};
    int want_label[3] = {1, 0, 1}, want_seed[3] = {3, 1, 2};
    int64_t want_n[3] = {33, 5, 1};
    for (int i = 0; i < 3; i++) {
        const lt_mil_bag_info *b = lt_mil_bag(ds, i);
        cr_assert_str_eq(b->id, want_id[i]);
        cr_assert_eq(b->label, want_label[i]);
        cr_assert_eq(b->split, LT_SPLIT_NONE);
        cr_assert(strstr(lt_mil_bag_file(ds, i), want_id[i]));
        check_bag(ds, i, want_seed[i], want_n[i], 7, 1);
    }
    cr_assert_null(lt_mil_bag(ds, 3));
    cr_assert_null(lt_mil_bag(ds, -1));
    cr_assert_eq(lt_mil_validate(ds), LT_OK, "%s", lt_last_error());
    lt_mil_close(ds);
}

// Integer labels, a split column, quoted fields, CRLF line ends, a byte-order
// mark, a trailing blank line, the folder given directly, float coords, no coords.
Test(mil_data, clam_integer_labels_split_column_crlf) {
    const char *dir = tp("h5");
    mkdir_p(dir);
    clam_opts o = clam_default();
    write_clam(dir, "a", 11, 4, 3, o);
    o.coords = 3;
    write_clam(dir, "b", 12, 2, 3, o);
    o.coords = 0;
    write_clam(dir, "c", 13, 6, 3, o);
    write_clam(dir, "d", 14, 1, 3, clam_default());
    write_text(tp("t.csv"), "\xEF\xBB\xBF\"slide_id\",Label,SPLIT\r\n"
                            "a,2,train\r\n"
                            "\"b\",0,val\r\n"
                            "c, 1 ,Test\r\n"
                            "d.svs,0,train\r\n"
                            "\r\n");
    lt_mil_dataset *ds = open_ok(dir, tp("t.csv"), LT_MIL_CLAM);
    cr_assert_eq(lt_mil_count(ds), 4);
    cr_assert_eq(lt_mil_n_classes(ds), 3);
    cr_assert_str_eq(lt_mil_class_name(ds, 2), "2");
    int labels[4] = {2, 0, 1, 0};
    lt_mil_split_kind splits[4] = {LT_SPLIT_TRAIN, LT_SPLIT_VAL, LT_SPLIT_TEST, LT_SPLIT_TRAIN};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(lt_mil_bag(ds, i)->label, labels[i]);
        cr_assert_eq(lt_mil_bag(ds, i)->split, splits[i]);
    }
    cr_assert_str_eq(lt_mil_bag(ds, 3)->id, "d.svs");   // the file is d.h5
    cr_assert_eq(lt_mil_ignored_files(ds), 0);
    check_bag(ds, 0, 11, 4, 3, 1);
    check_bag(ds, 1, 12, 2, 3, 1);
    check_bag(ds, 2, 13, 6, 3, 0);
    check_bag(ds, 3, 14, 1, 3, 1);
    // coords may be NULL
    float x[12];
    cr_assert_eq(lt_mil_read(ds, 0, x, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_eq(x[5], fval(11, 1, 2));
    lt_mil_close(ds);
}

// AEM's single file: one group per slide, float16 `feat`, int64 coords, `label` attribute.
Test(mil_data, aem_file) {
    aem_bag bags[4] = {{"slide_b", 21, 9, 1, NULL}, {"slide_a", 22, 1, 0, NULL}, {"normal_003", 23, 17, 0, NULL},
                       {"test_001", 24, 2, 1, NULL}};
    write_aem(tp("patch_feats_pretrain_medical_ssl.h5"), bags, 4, 12, 1);
    lt_mil_dataset *ds = open_ok(tp("patch_feats_pretrain_medical_ssl.h5"), NULL, LT_MIL_AUTO);
    cr_assert_eq(lt_mil_layout_of(ds), LT_MIL_AEM);
    cr_assert_eq(lt_mil_count(ds), 4);
    cr_assert_eq(lt_mil_dim(ds), 12);
    cr_assert_eq(lt_mil_n_classes(ds), 2);
    cr_assert_eq(lt_mil_max_instances(ds), 17);
    // groups in name order
    const char *order[4] = {"normal_003", "slide_a", "slide_b", "test_001"};
    int src[4] = {2, 1, 0, 3};
    for (int i = 0; i < 4; i++) {
        const lt_mil_bag_info *b = lt_mil_bag(ds, i);
        cr_assert_str_eq(b->id, order[i]);
        cr_assert_eq(b->label, bags[src[i]].label);
        check_bag(ds, i, bags[src[i]].seed, bags[src[i]].n, 12, 1);
    }
    cr_assert_eq(lt_mil_validate(ds), LT_OK, "%s", lt_last_error());
    lt_mil_close(ds);

    // float32 feat, labels as class-name strings, the layout named explicitly
    aem_bag named[3] = {{"x", 31, 3, 0, "benign"}, {"y", 32, 2, 0, "ADENO"}, {"z", 33, 4, 0, "benign"}};
    write_aem(tp("named.h5"), named, 3, 5, 0);
    ds = open_ok(tp("named.h5"), NULL, LT_MIL_AEM);
    cr_assert_eq(lt_mil_n_classes(ds), 2);
    cr_assert_str_eq(lt_mil_class_name(ds, 0), "ADENO");
    cr_assert_eq(lt_mil_bag(ds, 0)->label, 1);
    cr_assert_eq(lt_mil_bag(ds, 1)->label, 0);
    check_bag(ds, 2, 33, 4, 5, 1);
    lt_mil_close(ds);
}

static int64_t sum64(const int64_t *x, int n) {
    int64_t s = 0;
    for (int i = 0; i < n; i++) s += x[i];
    return s;
}

// The writer, then the reader: float32 and float16, splits, names, file attributes.
Test(mil_data, packed_writer_and_reader) {
    int64_t n[5] = {3, 1, 8, 2, 5};
    int labels[5] = {0, 2, 1, 1, 0};
    lt_mil_split_kind splits[5] = {LT_SPLIT_TRAIN, LT_SPLIT_VAL, LT_SPLIT_TEST, LT_SPLIT_NONE, LT_SPLIT_TRAIN};
    const char *names[3] = {"a", "bb", "ccc"};
    for (int f16 = 0; f16 < 2; f16++) {
        const char *path = tp(f16 ? "p16.h5" : "p32.h5");
        write_packed(path, 5, n, labels, splits, 6, 3, names, f16);
        cr_assert_eq(count_named(tmp_root, ".tmp"), 0, "temporary file left behind");
        cr_assert_eq(count_named(tmp_root, "scratch"), 0, "scratch file left behind");
        lt_mil_dataset *ds = open_ok(path, NULL, LT_MIL_AUTO);
        cr_assert_eq(lt_mil_layout_of(ds), LT_MIL_PACKED);
        cr_assert_eq(lt_mil_count(ds), 5);
        cr_assert_eq(lt_mil_n_classes(ds), 3);
        for (int c = 0; c < 3; c++) cr_assert_str_eq(lt_mil_class_name(ds, c), names[c]);
        cr_assert_eq(lt_mil_max_instances(ds), 8);
        for (int i = 0; i < 5; i++) {
            const lt_mil_bag_info *b = lt_mil_bag(ds, i);
            char id[32];
            snprintf(id, sizeof id, "slide_%d", i);
            cr_assert_str_eq(b->id, id);
            cr_assert_eq(b->label, labels[i]);
            cr_assert_eq(b->split, splits[i]);
            check_bag(ds, i, 100 + i, n[i], 6, 1);
        }
        lt_mil_close(ds);
        // What other tools see: stored types, attributes, a string dataset of ids.
        lt_h5 *f;
        cr_assert_eq(lt_h5_open(path, &f), LT_OK);
        lt_h5_info in;
        cr_assert_eq(lt_h5_info_get(f, "features", &in), LT_OK);
        cr_assert_eq(in.type, f16 ? LT_H5_F16 : LT_H5_F32);
        cr_assert_eq(in.dims[0], sum64(n, 5));
        cr_assert_eq(lt_h5_info_get(f, "slide_ids", &in), LT_OK);
        cr_assert_eq(in.type, LT_H5_OTHER);
        cr_assert_eq(in.dims[0], 5);
        char fmt[32];
        int64_t v;
        cr_assert_eq(lt_h5_attr_read_str(f, "/", "format", fmt, sizeof fmt), LT_OK);
        cr_assert_str_eq(fmt, "libtrain-mil");
        cr_assert_eq(lt_h5_attr_read_int(f, "/", "version", &v), LT_OK);
        cr_assert_eq(v, 1);
        cr_assert_eq(lt_h5_attr_read_int(f, "/", "n_classes", &v), LT_OK);
        cr_assert_eq(v, 3);
        int64_t off[6];
        cr_assert_eq(lt_h5_read(f, "offsets", LT_H5_I64, off, 6), LT_OK);
        cr_assert(off[0] == 0 && off[1] == 3 && off[2] == 4 && off[5] == 19);
        lt_h5_close(f);
    }
    // Without class names: "0", "1", ...
    int64_t m[2] = {1, 2};
    int l2[2] = {1, 0};
    write_packed(tp("unnamed.h5"), 2, m, l2, NULL, 3, 2, NULL, 0);
    lt_mil_dataset *ds = open_ok(tp("unnamed.h5"), NULL, LT_MIL_PACKED);
    cr_assert_str_eq(lt_mil_class_name(ds, 1), "1");
    cr_assert_eq(lt_mil_bag(ds, 0)->split, LT_SPLIT_NONE);
    lt_mil_close(ds);
}

// Ids written as variable-length strings by another tool (h5py's default) read too.
Test(mil_data, packed_vlen_ids_from_other_tools) {
    const char *ids[3] = {"p", "q", "r"};
    int64_t off[4] = {0, 2, 3, 7};
    int32_t lab[3] = {0, 1, 0};
    write_packed_raw(tp("raw.h5"), 3, ids, off, lab, 4, 2);
    lt_mil_dataset *ds = open_ok(tp("raw.h5"), NULL, LT_MIL_AUTO);
    cr_assert_eq(lt_mil_count(ds), 3);
    cr_assert_str_eq(lt_mil_bag(ds, 2)->id, "r");
    cr_assert_eq(lt_mil_bag(ds, 2)->n, 4);
    cr_assert_eq(lt_mil_n_classes(ds), 2);
    float x[16];
    int32_t c[8];
    cr_assert_eq(lt_mil_read(ds, 2, x, c), LT_OK, "%s", lt_last_error());
    for (int k = 0; k < 8; k++) cr_assert_eq(c[k], 0);   // no coords dataset: zeros
    lt_mil_close(ds);
}

// CLAM -> import -> packed gives the same bags (float32 exactly; float16 exactly
// too, as the test values are multiples of 1/64).
Test(mil_data, import_clam_to_packed_round_trip) {
    const char *dir = tp("clam");
    mkdir_p(dir);
    int64_t n[6] = {4, 1, 40, 7, 2, 13};
    char csv[1024] = "slide_id,label,split\n";
    for (int i = 0; i < 6; i++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", i);
        clam_opts o = clam_default();
        o.f16 = i % 2;
        write_clam(dir, id, 50 + i, n[i], 9, o);
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%s,%s,%s\n", id, i % 3 ? "pos" : "neg",
                 i < 4 ? "train" : "test");
    }
    write_text(tp("s.csv"), csv);
    lt_mil_dataset *src = open_ok(dir, tp("s.csv"), LT_MIL_AUTO);
    for (int f16 = 0; f16 < 2; f16++) {
        const char *dst = tp(f16 ? "imp16.h5" : "imp32.h5");
        cr_assert_eq(lt_mil_import(src, dst, f16), LT_OK, "%s", lt_last_error());
        lt_mil_dataset *ds = open_ok(dst, NULL, LT_MIL_AUTO);
        cr_assert_eq(lt_mil_count(ds), lt_mil_count(src));
        cr_assert_eq(lt_mil_dim(ds), lt_mil_dim(src));
        cr_assert_eq(lt_mil_n_classes(ds), 2);
        for (int c = 0; c < 2; c++) cr_assert_str_eq(lt_mil_class_name(ds, c), lt_mil_class_name(src, c));
        for (int i = 0; i < 6; i++) {
            const lt_mil_bag_info *a = lt_mil_bag(src, i), *b = lt_mil_bag(ds, i);
            cr_assert_str_eq(a->id, b->id);
            cr_assert_eq(a->label, b->label);
            cr_assert_eq(a->n, b->n);
            cr_assert_eq(a->split, b->split);
            float *x = malloc(sizeof *x * (size_t)(a->n * 9)), *y = malloc(sizeof *y * (size_t)(a->n * 9));
            int32_t *cx = malloc(sizeof *cx * 2 * (size_t)a->n), *cy = malloc(sizeof *cy * 2 * (size_t)a->n);
            cr_assert_eq(lt_mil_read(src, i, x, cx), LT_OK);
            cr_assert_eq(lt_mil_read(ds, i, y, cy), LT_OK);
            cr_assert_eq(memcmp(x, y, sizeof *x * (size_t)(a->n * 9)), 0, "bag %d features differ", i);
            cr_assert_eq(memcmp(cx, cy, sizeof *cx * 2 * (size_t)a->n), 0, "bag %d coords differ", i);
            free(x); free(y); free(cx); free(cy);
        }
        lt_mil_close(ds);
    }
    lt_mil_close(src);
}

// float16 -> float32 on every finite half, against ldexp; float32 -> float16 in
// the writer against a nearest-even search over all halves.
static double half_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
    return s ? -v : v;
}

Test(mil_data, float16_conversion_exact) {
    // Every finite half pattern as one CLAM bag of n x 1 (stored as raw halves).
    const char *dir = tp("h");
    mkdir_p(dir);
    uint16_t *bits = malloc(sizeof *bits * 65540);
    int64_t n = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (((h >> 10) & 31) != 31) bits[n++] = (uint16_t)h;
    bits[n++] = 0x3c00;   // 63491 values: not a multiple of 8, so vector and scalar paths both run
    bits[n++] = 0x0001;
    bits[n++] = 0x83ff;
    lt_h5 *f;
    char path[600];
    snprintf(path, sizeof path, "%s/all.h5", dir);
    cr_assert_eq(lt_h5_create(path, &f), LT_OK);
    int64_t dims[2] = {n, 1};
    cr_assert_eq(lt_h5_write(f, "features", LT_H5_F16, bits, 2, dims, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    write_text(tp("all.csv"), "slide_id,label\nall,0\n");
    lt_mil_dataset *ds = open_ok(dir, tp("all.csv"), LT_MIL_CLAM);
    float *x = malloc(sizeof *x * (size_t)n);
    cr_assert_eq(lt_mil_read(ds, 0, x, NULL), LT_OK, "%s", lt_last_error());
    for (int64_t k = 0; k < n; k++) {
        double want = half_value(bits[k]);
        cr_assert(x[k] == want && !!signbit(x[k]) == !!signbit(want), "half 0x%04x: %.9g, want %.9g", bits[k], x[k],
                  want);
    }
    lt_mil_close(ds);

    // Writer: random floats over the half range (subnormals, ties, the largest finite).
    int m = 4000;
    float *v = malloc(sizeof *v * (size_t)m);
    lt_rng r;
    lt_rng_init(&r, 7);
    for (int k = 0; k < m; k++) {
        float u = lt_rng_uniform(&r);
        v[k] = ldexpf(1.0f + u, (int)lt_rng_below(&r, 42) - 26) * (lt_rng_u32(&r) & 1 ? -1.0f : 1.0f);
        if (k % 10 == 0) v[k] = (float)half_value(bits[lt_rng_below(&r, (uint32_t)n)]);   // exact
        if (k % 10 == 1 || k % 10 == 2) {   // halfway between two neighbouring halves: ties to even (down, up)
            uint16_t h = (bits[lt_rng_below(&r, (uint32_t)n)] & 0x7bfe) | (k % 10 == 2);
            v[k] = (float)((half_value(h) + half_value(h + 1)) / 2);
        }
        if (fabsf(v[k]) > 65504.0f) v[k] = 65504.0f;
    }
    v[0] = 65504.0f;
    v[2] = 65519.0f;   // still rounds to 65504
    v[3] = 5.9604645e-08f;   // smallest subnormal
    v[4] = 2.9802322e-08f;   // half of it: ties to even, 0
    v[5] = -0.0f;
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w16.h5"), 1, 1, NULL, 1, &w), LT_OK);
    cr_assert_eq(lt_mil_writer_add(w, "v", 0, LT_SPLIT_NONE, m, v, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_mil_writer_commit(w), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_h5_open(tp("w16.h5"), &f), LT_OK);
    uint16_t *got = malloc(sizeof *got * (size_t)m);
    cr_assert_eq(lt_h5_read(f, "features", LT_H5_F16, got, m), LT_OK, "%s", lt_last_error());
    lt_h5_close(f);
    double *table = malloc(sizeof *table * 65536);
    for (uint32_t h = 0; h < 65536; h++) table[h] = half_value((uint16_t)h);
    for (int k = 0; k < m; k++) {
        // nearest half by search over the finite halves of the same sign, ties to the even pattern
        double best = INFINITY;
        uint16_t want = 0;
        for (uint32_t h = signbit(v[k]) ? 0x8000 : 0; h < (signbit(v[k]) ? 0xfc00u : 0x7c00u); h++) {
            double d = fabs(table[h] - (double)v[k]);
            if (d < best || (d == best && !(h & 1))) { best = d; want = (uint16_t)h; }
        }
        cr_assert_eq(got[k], want, "float %.9g -> half 0x%04x, want 0x%04x", v[k], got[k], want);
    }
    free(bits); free(x); free(v); free(got); free(table);
}

// Bags larger than one HDF5 chunk (CLAM files written chunked + gzip, ~1 MiB
// chunks) and larger than the validation and writer copy blocks (8 MiB).
Test(mil_data, bags_larger_than_a_chunk_and_a_block) {
    const char *dir = tp("big");
    mkdir_p(dir);
    clam_opts o = clam_default();
    o.gzip = 1;
    write_clam(dir, "big", 91, 2500, 1100, o);   // 11 MB of float32
    o.f16 = 1;
    write_clam(dir, "big16", 92, 3000, 200, o);
    write_clam(dir, "small", 93, 3, 1100, clam_default());
    write_text(tp("big.csv"), "slide_id,label\nsmall,0\nbig,1\n");
    lt_mil_dataset *ds = open_ok(dir, tp("big.csv"), LT_MIL_AUTO);
    check_bag(ds, 1, 91, 2500, 1100, 1);
    cr_assert_eq(lt_mil_validate(ds), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_mil_import(ds, tp("big_packed.h5"), 0), LT_OK, "%s", lt_last_error());
    lt_mil_close(ds);
    ds = open_ok(tp("big_packed.h5"), NULL, LT_MIL_AUTO);
    check_bag(ds, 0, 93, 3, 1100, 1);
    check_bag(ds, 1, 91, 2500, 1100, 1);
    lt_mil_close(ds);
    write_text(tp("big16.csv"), "slide_id,label\nbig16,0\n");
    ds = open_ok(dir, tp("big16.csv"), LT_MIL_AUTO);
    check_bag(ds, 0, 92, 3000, 200, 1);
    lt_mil_close(ds);
}

// The CSV reader on its own: quoting, embedded line breaks, line numbers.
#include "data/csv.h"
Test(mil_data, csv_reader) {
    write_text(tp("q.csv"), "a,b,c\n"
                            "1,\"x, \"\"y\"\"\",3\n"
                            "\n"
                            "\"multi\nline\",,z\r\n"
                            "last,row,here");
    lt_csv *c;
    cr_assert_eq(lt_csv_read(tp("q.csv"), &c), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_csv_n_cols(c), 3);
    cr_assert_eq(lt_csv_n_rows(c), 3);
    cr_assert_str_eq(lt_csv_cell(c, 0, 1), "x, \"y\"");
    cr_assert_str_eq(lt_csv_cell(c, 1, 0), "multi\nline");
    cr_assert_str_eq(lt_csv_cell(c, 1, 1), "");
    cr_assert_str_eq(lt_csv_cell(c, 2, 2), "here");
    cr_assert_eq(lt_csv_line(c, 0), 2);
    cr_assert_eq(lt_csv_line(c, 1), 4);
    cr_assert_eq(lt_csv_line(c, 2), 6);
    cr_assert_eq(lt_csv_col(c, "B"), 1);
    cr_assert_eq(lt_csv_col(c, "d"), -1);
    cr_assert_null(lt_csv_cell(c, 3, 0));
    lt_csv_free(c);

    struct { const char *text, *needle; } bad[] = {
        {"a,b\n1,2,3\n", "line 2: 3 fields, but the header has 2"},
        {"a,b\n1,2\n\"open,3\n", "line 3: quoted field never closed"},
        {"a,b\n1,\"x\"y\n", "line 2: unexpected 'y' after a closing quote"},
        {"a,b\n1,x\"y\n", "line 2: quote inside an unquoted field"},
        {"", "is empty"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(tp("bad.csv"), bad[k].text);
        cr_assert_neq(lt_csv_read(tp("bad.csv"), &c), LT_OK, "case %zu parsed", k);
        cr_assert(strstr(lt_last_error(), bad[k].needle), "case %zu: %s", k, lt_last_error());
        cr_assert(strstr(lt_last_error(), "bad.csv"), "%s", lt_last_error());
    }
    cr_assert_neq(lt_csv_read(tp("none.csv"), &c), LT_OK);
    cr_assert(strstr(lt_last_error(), "none.csv"));
}
