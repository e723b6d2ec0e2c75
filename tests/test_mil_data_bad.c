// MIL data, bad input: each case is an error naming the file and the slide,
// at open (or in lt_mil_validate for what only the data shows), never a crash.
#include "test_mil_data_helpers.h"

TestSuite(mil_bad, .init = tmp_setup, .fini = tmp_teardown);

// A CLAM folder "f" with slides a (seed 1, 4 x 5) and b (seed 2, 3 x 5).
static const char *clam_ab(void) {
    const char *dir = tp("f");
    mkdir_p(dir);
    write_clam(dir, "a", 1, 4, 5, clam_default());
    write_clam(dir, "b", 2, 3, 5, clam_default());
    return dir;
}

static const char *csv(const char *text) {
    const char *p = tp("slides.csv");
    write_text(p, text);
    return p;
}

Test(mil_bad, missing_paths) {
    open_fails(tp("nowhere"), NULL, LT_MIL_AUTO, LT_ERR_IO, "nowhere", "does not exist", NULL);
    open_fails(tp("nowhere.h5"), NULL, LT_MIL_PACKED, LT_ERR_IO, "nowhere.h5", NULL, NULL);
    const char *dir = clam_ab();
    open_fails(dir, NULL, LT_MIL_AUTO, LT_ERR_ARG, "needs the slide CSV", dir, NULL);
    open_fails(dir, tp("no.csv"), LT_MIL_AUTO, LT_ERR_IO, "no.csv", NULL, NULL);
    open_fails(dir, tp("slides.csv"), LT_MIL_AEM, LT_ERR_ARG, "is a folder", NULL, NULL);
    // a CSV row whose .h5 is missing: the slide, the CSV line and the expected file
    open_fails(dir, csv("slide_id,label\na,0\nb,1\nc,1\n"), LT_MIL_AUTO, LT_ERR_IO, "slide 'c'", "line 4",
               "f/c.h5' does not exist");
    // an empty feature folder
    mkdir_p(tp("empty"));
    open_fails(tp("empty"), csv("slide_id,label\na,0\n"), LT_MIL_CLAM, LT_ERR_FORMAT, "holds no .h5 files", "empty",
               NULL);
    // a file given where the CLAM folder is expected
    open_fails(tp("f/a.h5"), csv("slide_id,label\na,0\n"), LT_MIL_CLAM, LT_ERR_ARG, "not a folder", NULL, NULL);
}

Test(mil_bad, missing_datasets) {
    const char *dir = clam_ab();
    // CLAM's patch-coordinates file where a features file belongs
    write_coords_only(dir, "c", 6);
    open_fails(dir, csv("slide_id,label\na,0\nc,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'c'",
               "has no dataset 'features' (it holds: coords)", "patch-coordinates");
    cr_assert(strstr(lt_last_error(), "f/c.h5"), "%s", lt_last_error());
    // features under another name
    clam_opts o = clam_default();
    o.feat_name = "feats";
    write_clam(dir, "d", 4, 2, 5, o);
    open_fails(dir, csv("slide_id,label\nd,0\na,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'd'",
               "no dataset 'features' (it holds: coords, feats)", "f/d.h5");
    // a single slide file given as the dataset
    open_fails(tp("f/a.h5"), NULL, LT_MIL_AUTO, LT_ERR_ARG, "single CLAM/TRIDENT slide file", "a.h5", NULL);
    // AEM group without `feat`
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("aem2.h5"), &f), LT_OK);
    float x[8] = {0};
    int64_t d2[2] = {2, 4};
    cr_assert_eq(lt_h5_write(f, "s1/feat", LT_H5_F32, x, 2, d2, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "s1", "label", 0), LT_OK);
    cr_assert_eq(lt_h5_write(f, "s2/embeddings", LT_H5_F32, x, 2, d2, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "s2", "label", 1), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(tp("aem2.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 's2'", "no dataset 's2/feat'",
               "the group holds: embeddings");
    // AEM file without groups
    cr_assert_eq(lt_h5_create(tp("flat.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "feat", LT_H5_F32, x, 2, d2, (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(tp("flat.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "holds no slide groups", "root holds: feat",
               "flat.h5");
    // packed file without slide ids
    cr_assert_eq(lt_h5_create(tp("nopack.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "features", LT_H5_F32, x, 2, d2, (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    int64_t off[2] = {0, 2}, one = 2;
    cr_assert_eq(lt_h5_write(f, "offsets", LT_H5_I64, off, 1, &one, (lt_h5_write_opts){LT_H5_I64, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(tp("nopack.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "no dataset 'slide_ids'",
               "root holds: features, offsets", "nopack.h5");
}

Test(mil_bad, feature_dimension_differs) {
    const char *dir = clam_ab();
    write_clam(dir, "c", 3, 2, 6, clam_default());
    open_fails(dir, csv("slide_id,label\na,0\nb,1\nc,1\n"), LT_MIL_AUTO, LT_ERR_SHAPE, "slide 'c'", "has 6 features",
               "slide 'a' in");
    cr_assert(strstr(lt_last_error(), "f/c.h5") && strstr(lt_last_error(), "has 5"), "%s", lt_last_error());
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("aem_dd.h5"), &f), LT_OK);
    float x[12] = {0};
    int64_t d1[2] = {3, 4}, d2[2] = {2, 6};
    cr_assert_eq(lt_h5_write(f, "s1/feat", LT_H5_F32, x, 2, d1, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "s1", "label", 0), LT_OK);
    cr_assert_eq(lt_h5_write(f, "s2/feat", LT_H5_F32, x, 2, d2, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_int(f, "s2", "label", 1), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(tp("aem_dd.h5"), NULL, LT_MIL_AUTO, LT_ERR_SHAPE, "slide 's2'", "aem_dd.h5", "slide 's1'");
}

Test(mil_bad, bad_feature_and_coords_datasets) {
    const char *dir = clam_ab();
    lt_h5 *f;
    uint8_t u[10] = {0};
    int64_t d[2] = {5, 2};
    cr_assert_eq(lt_h5_create(tp("f/c.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "features", LT_H5_U8, u, 2, d, (lt_h5_write_opts){LT_H5_U8, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(dir, csv("slide_id,label\nc,0\n"), LT_MIL_AUTO, LT_ERR_DTYPE, "slide 'c'", "uint8", "f/c.h5");
    float x[10] = {0};
    int64_t d3[3] = {5, 1, 2};
    cr_assert_eq(lt_h5_create(tp("f/e.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "features", LT_H5_F32, x, 3, d3, (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(dir, csv("slide_id,label\ne,0\n"), LT_MIL_AUTO, LT_ERR_SHAPE, "slide 'e'", "(5, 1, 2)", NULL);
    int32_t c[6] = {0};
    int64_t dc[2] = {3, 2};
    cr_assert_eq(lt_h5_create(tp("f/g.h5"), &f), LT_OK);
    cr_assert_eq(lt_h5_write(f, "features", LT_H5_F32, x, 2, d, (lt_h5_write_opts){LT_H5_F32, 0}), LT_OK);
    cr_assert_eq(lt_h5_write(f, "coords", LT_H5_I32, c, 2, dc, (lt_h5_write_opts){LT_H5_I32, 0}), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(dir, csv("slide_id,label\ng,0\n"), LT_MIL_AUTO, LT_ERR_SHAPE, "slide 'g'", "'coords'", "(5, 2)");
}

Test(mil_bad, nan_and_inf_features) {
    const char *dir = clam_ab();
    clam_opts o = clam_default();
    o.nan_row = 2;
    write_clam(dir, "n", 5, 4, 5, o);
    o.nan_row = -1;
    o.inf_row = 3;
    o.f16 = 1;
    write_clam(dir, "i", 6, 4, 5, o);
    lt_mil_dataset *ds = open_ok(dir, csv("slide_id,label\na,0\nn,1\ni,1\n"), LT_MIL_AUTO);   // open reads no features
    float x[20];
    cr_assert_eq(lt_mil_read(ds, 0, x, NULL), LT_OK);
    cr_assert_eq(lt_mil_read(ds, 1, x, NULL), LT_ERR_NONFINITE);
    const char *m = lt_last_error();
    cr_assert(strstr(m, "slide 'n'") && strstr(m, "f/n.h5") && strstr(m, "[2, 0] is NaN"), "%s", m);
    cr_assert_eq(lt_mil_validate(ds), LT_ERR_NONFINITE);
    cr_assert(strstr(lt_last_error(), "slide 'n'"), "%s", lt_last_error());
    cr_assert_eq(lt_mil_read(ds, 2, x, NULL), LT_ERR_NONFINITE);
    m = lt_last_error();
    cr_assert(strstr(m, "slide 'i'") && strstr(m, "f/i.h5") && strstr(m, "[3, 4] is +Inf"), "%s", m);
    lt_mil_close(ds);
    // the writer refuses them too
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 2, 2, NULL, 0, &w), LT_OK);
    float bad[4] = {1, 2, -INFINITY, 4};
    cr_assert_eq(lt_mil_writer_add(w, "sx", 0, LT_SPLIT_NONE, 2, bad, NULL), LT_ERR_NONFINITE);
    cr_assert(strstr(lt_last_error(), "slide 'sx'") && strstr(lt_last_error(), "[1, 0]"), "%s", lt_last_error());
    lt_mil_writer_abort(w);
    cr_assert_eq(count_named(tmp_root, "w.h5"), 0);
}

Test(mil_bad, empty_bags) {
    const char *dir = clam_ab();
    write_clam(dir, "z", 7, 0, 5, clam_default());
    open_fails(dir, csv("slide_id,label\na,0\nz,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'z'", "empty bag",
               "f/z.h5");
    aem_bag bags[2] = {{"s1", 1, 3, 0, NULL}, {"s0", 2, 0, 1, NULL}};
    write_aem(tp("aem.h5"), bags, 2, 4, 1);
    open_fails(tp("aem.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 's0'", "empty bag", "aem.h5");
    const char *ids[3] = {"p", "q", "r"};
    int64_t off[4] = {0, 2, 2, 5};
    int32_t lab[3] = {0, 1, 0};
    write_packed_raw(tp("packed.h5"), 3, ids, off, lab, 3, 2);
    open_fails(tp("packed.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'q'", "empty bag", "packed.h5");
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 2, 2, NULL, 0, &w), LT_OK);
    float x[2] = {0};
    cr_assert_eq(lt_mil_writer_add(w, "e", 0, LT_SPLIT_NONE, 0, x, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "slide 'e' is an empty bag"), "%s", lt_last_error());
    cr_assert_eq(lt_mil_writer_commit(w), LT_ERR_STATE);   // nothing added
    cr_assert(strstr(lt_last_error(), "no bags"), "%s", lt_last_error());
    cr_assert_eq(count_named(tmp_root, "w.h5"), 0);
}

Test(mil_bad, labels) {
    const char *dir = clam_ab();
    open_fails(dir, csv("slide_id,label\na,0\nb,\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "line 3 (slide 'b')",
               "label is missing", "slides.csv");
    open_fails(dir, csv("slide_id,label\na,0\nb,-1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "line 3 (slide 'b')",
               "out of range", NULL);
    open_fails(dir, csv("slide_id,label\na,0\nb,1.5\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'b'", "'1.5'",
               "not a class index");
    open_fails(dir, csv("slide_id,label\na,0\nb,nan\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'b'", "'nan'", NULL);
    open_fails(dir, csv("slide_id,label\na,1\nb,tumor\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "mix class indices and class "
               "names", "slide 'a'", "slide 'b'");
    // 1-based labels leave class 0 empty
    open_fails(dir, csv("slide_id,label\na,1\nb,2\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "no slide has label 0",
               "slides.csv", "1-based");
    open_fails(dir, csv("slide_id,class\na,1\nb,2\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "no 'label' column",
               "'slide_id', 'class'", NULL);
    open_fails(dir, csv("case,label\na,1\nb,2\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "no 'slide_id' column", NULL, NULL);
    open_fails(dir, csv("slide_id,label,split\na,0,train\nb,1,holdout\n"), LT_MIL_AUTO, LT_ERR_FORMAT,
               "line 3 (slide 'b')", "split 'holdout'", NULL);
    open_fails(dir, csv("slide_id,label\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "no slides", NULL, NULL);
    open_fails(dir, csv("slide_id,label\na,0\n,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "line 3: empty slide_id", NULL,
               NULL);
    // AEM: no label attribute; a label that is not a class index
    aem_bag bags[2] = {{"s1", 1, 3, 0, NULL}, {"s2", 2, 2, -1, NULL}};
    write_aem(tp("aem.h5"), bags, 2, 4, 1);
    open_fails(tp("aem.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 's2'", "no 'label' attribute", "aem.h5");
    lt_h5 *f;
    cr_assert_eq(lt_h5_create(tp("aemf.h5"), &f), LT_OK);
    float x[4] = {0};
    int64_t d[2] = {1, 4};
    cr_assert_eq(lt_h5_write(f, "s1/feat", LT_H5_F32, x, 2, d, (lt_h5_write_opts){LT_H5_F16, 0}), LT_OK);
    cr_assert_eq(lt_h5_attr_write_f64(f, "s1", "label", 0.5), LT_OK);
    cr_assert_eq(lt_h5_commit(f), LT_OK);
    open_fails(tp("aemf.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 's1'", "label 0.5", NULL);
    // packed: a label past n_classes
    const char *ids[2] = {"p", "q"};
    int64_t off[3] = {0, 1, 3};
    int32_t lab[2] = {0, 2};
    write_packed_raw(tp("packed.h5"), 2, ids, off, lab, 3, 2);
    open_fails(tp("packed.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'q'", "label 2 is out of range 0..1",
               "packed.h5");
    // the writer checks labels against its class count
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 4, 2, NULL, 0, &w), LT_OK);
    cr_assert_eq(lt_mil_writer_add(w, "s", 2, LT_SPLIT_NONE, 1, x, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "slide 's': label 2 out of range 0..1"), "%s", lt_last_error());
    lt_mil_writer_abort(w);
}

Test(mil_bad, duplicate_slide_ids) {
    const char *dir = clam_ab();
    open_fails(dir, csv("slide_id,label\na,0\nb,1\na,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "lists slide 'a' twice",
               "lines 2 and 4", "slides.csv");
    const char *ids[3] = {"p", "q", "p"};
    int64_t off[4] = {0, 1, 2, 3};
    int32_t lab[3] = {0, 1, 0};
    write_packed_raw(tp("packed.h5"), 3, ids, off, lab, 3, 2);
    open_fails(tp("packed.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "slide id 'p' appears twice", "packed.h5",
               "bags 0 and 2");
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 2, 2, NULL, 0, &w), LT_OK);
    float x[2] = {1, 2};
    cr_assert_eq(lt_mil_writer_add(w, "s", 0, LT_SPLIT_NONE, 1, x, NULL), LT_OK);
    cr_assert_eq(lt_mil_writer_add(w, "t", 1, LT_SPLIT_NONE, 1, x, NULL), LT_OK);
    cr_assert_eq(lt_mil_writer_add(w, "s", 1, LT_SPLIT_NONE, 1, x, NULL), LT_OK);
    cr_assert_eq(lt_mil_writer_commit(w), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "slide id 's' was added twice (bags 0 and 2)"), "%s", lt_last_error());
    cr_assert_eq(count_named(tmp_root, "w.h5"), 0, "a failed commit left a file");
}

static void truncate_copy(const char *src, const char *dst, double frac) {
    FILE *in = fopen(src, "rb");
    cr_assert(in);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    fseek(in, 0, SEEK_SET);
    long keep = (long)(n * frac);
    char *buf = malloc((size_t)n);
    cr_assert_eq(fread(buf, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    FILE *out = fopen(dst, "wb");
    cr_assert(out);
    fwrite(buf, 1, (size_t)keep, out);
    fclose(out);
    free(buf);
}

Test(mil_bad, truncated_and_foreign_files) {
    const char *dir = clam_ab();
    write_clam(dir, "big", 8, 300, 5, clam_default());
    const double fracs[3] = {0.1, 0.5, 0.97};
    for (int k = 0; k < 3; k++) {
        truncate_copy(tp("f/big.h5"), tp("f/t.h5"), fracs[k]);
        lt_mil_dataset *ds = NULL;
        lt_status s = lt_mil_open(dir, csv("slide_id,label\na,0\nt,1\n"), LT_MIL_AUTO, &ds);
        if (s == LT_OK) {   // the damage may only show when the data is read
            s = lt_mil_validate(ds);
            lt_mil_close(ds);
        }
        cr_assert_neq(s, LT_OK, "truncated to %g opened and read", fracs[k]);
        cr_assert(strstr(lt_last_error(), "slide 't'") && strstr(lt_last_error(), "f/t.h5"), "%s", lt_last_error());
    }
    write_text(tp("f/x.h5"), "this is not HDF5\n");
    open_fails(dir, csv("slide_id,label\na,0\nx,1\n"), LT_MIL_AUTO, LT_ERR_FORMAT, "slide 'x'", "not an HDF5 file",
               "f/x.h5");
    // truncated single-file layouts
    int64_t n[3] = {50, 60, 70};
    int labels[3] = {0, 1, 0};
    write_packed(tp("p.h5"), 3, n, labels, NULL, 8, 2, NULL, 0);
    aem_bag bags[2] = {{"s1", 1, 40, 0, NULL}, {"s2", 2, 30, 1, NULL}};
    write_aem(tp("a.h5"), bags, 2, 8, 1);
    const char *srcs[2] = {"p.h5", "a.h5"};
    for (int j = 0; j < 2; j++)
        for (int k = 0; k < 3; k++) {
            truncate_copy(tp(srcs[j]), tp("cut.h5"), fracs[k]);
            lt_mil_dataset *ds = NULL;
            lt_status s = lt_mil_open(tp("cut.h5"), NULL, LT_MIL_AUTO, &ds);
            if (s == LT_OK) {
                s = lt_mil_validate(ds);
                lt_mil_close(ds);
            }
            cr_assert_neq(s, LT_OK, "%s truncated to %g opened and read", srcs[j], fracs[k]);
            cr_assert(strstr(lt_last_error(), "cut.h5"), "%s", lt_last_error());
        }
    write_text(tp("x.h5"), "");
    open_fails(tp("x.h5"), NULL, LT_MIL_AUTO, LT_ERR_FORMAT, "x.h5", NULL, NULL);
}

// Files deleted after opening: the next read names the slide and the file.
Test(mil_bad, file_removed_after_open) {
    const char *dir = clam_ab();
    lt_mil_dataset *ds = open_ok(dir, csv("slide_id,label\na,0\nb,1\n"), LT_MIL_AUTO);
    cr_assert_eq(remove(tp("f/b.h5")), 0);
    float x[20];
    cr_assert_eq(lt_mil_read(ds, 1, x, NULL), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "slide 'b'") && strstr(lt_last_error(), "f/b.h5"), "%s", lt_last_error());
    cr_assert_eq(lt_mil_read(ds, 0, x, NULL), LT_OK);
    cr_assert_eq(lt_mil_read(ds, 2, x, NULL), LT_ERR_ARG);
    lt_mil_close(ds);
}

Test(mil_bad, writer_arguments) {
    lt_mil_writer *w;
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 0, 2, NULL, 0, &w), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "w.h5"));
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 4, 0, NULL, 0, &w), LT_ERR_ARG);
    const char *names[2] = {"a", ""};
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 4, 2, names, 0, &w), LT_ERR_ARG);
    cr_assert_eq(lt_mil_writer_open(tp("no/such/dir/w.h5"), 4, 2, NULL, 0, &w), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "no/such/dir/w.h5"), "%s", lt_last_error());
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 1, 2, NULL, 0, &w), LT_OK);
    float x[1] = {1};
    char long_id[200];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[199] = 0;
    cr_assert_eq(lt_mil_writer_add(w, long_id, 0, LT_SPLIT_NONE, 1, x, NULL), LT_ERR_ARG);
    cr_assert_eq(lt_mil_writer_add(w, "", 0, LT_SPLIT_NONE, 1, x, NULL), LT_ERR_ARG);
    cr_assert_eq(lt_mil_writer_add(w, "s", 0, (lt_mil_split_kind)7, 1, x, NULL), LT_ERR_ARG);
    lt_mil_writer_abort(w);
    cr_assert_eq(count_named(tmp_root, "w.h5"), 0);
    // float16 storage refuses values it cannot hold; the writer stays usable
    cr_assert_eq(lt_mil_writer_open(tp("w.h5"), 2, 2, NULL, 1, &w), LT_OK);
    float big[4] = {1, 2, 3, -70000};
    cr_assert_eq(lt_mil_writer_add(w, "s", 0, LT_SPLIT_NONE, 2, big, NULL), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "slide 's': feature [1, 1] = -70000 is beyond the float16 range"), "%s",
              lt_last_error());
    big[3] = 65504;
    cr_assert_eq(lt_mil_writer_add(w, "s", 0, LT_SPLIT_NONE, 2, big, NULL), LT_OK, "%s", lt_last_error());
    cr_assert_eq(lt_mil_writer_commit(w), LT_OK, "%s", lt_last_error());
    lt_mil_dataset *ds = open_ok(tp("w.h5"), NULL, LT_MIL_AUTO);
    float y[4];
    cr_assert_eq(lt_mil_read(ds, 0, y, NULL), LT_OK);
    cr_assert(y[0] == 1 && y[3] == 65504);
    lt_mil_close(ds);
}
