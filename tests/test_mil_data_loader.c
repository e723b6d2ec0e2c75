// MIL data: train/val/test splits (carried, stratified by seed, k-fold) and the
// background prefetch loader (order, data, subsampling, errors, shutdown).
#include "test_mil_data_helpers.h"

TestSuite(mil_split, .init = tmp_setup, .fini = tmp_teardown);
TestSuite(mil_loader, .init = tmp_setup, .fini = tmp_teardown);

// A packed dataset of n0 bags of class 0 and n1 of class 1, interleaved as
// 0,0,1,0,0,1,... while both last; bag i has 1 + i % 4 rows of dimension 3.
static lt_mil_dataset *two_class(int n0, int n1, const lt_mil_split_kind *splits) {
    int n = n0 + n1, *labels = malloc(sizeof *labels * (size_t)n), k0 = 0, k1 = 0;
    int64_t *rows = malloc(sizeof *rows * (size_t)n);
    for (int i = 0; i < n; i++) {
        int one = (k1 < n1 && (i % 3 == 2 || k0 == n0));
        labels[i] = one;
        if (one) k1++; else k0++;
        rows[i] = 1 + i % 4;
    }
    write_packed(tp("two.h5"), n, rows, labels, splits, 3, 2, NULL, 0);
    free(labels);
    free(rows);
    return open_ok(tp("two.h5"), NULL, LT_MIL_PACKED);
}

static int count_label(const lt_mil_dataset *ds, const lt_index_list *l, int label) {
    int c = 0;
    for (int i = 0; i < l->n; i++) c += lt_mil_bag(ds, l->idx[i])->label == label;
    return c;
}

// Every bag in exactly one of the lists, each list ascending.
static void assert_partition(const lt_mil_dataset *ds, const lt_index_list *a, const lt_index_list *b,
                             const lt_index_list *c) {
    int n = lt_mil_count(ds);
    int *seen = calloc((size_t)n, sizeof *seen);
    const lt_index_list *l[3] = {a, b, c};
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < l[k]->n; i++) {
            int32_t j = l[k]->idx[i];
            cr_assert(j >= 0 && j < n);
            cr_assert(i == 0 || l[k]->idx[i - 1] < j, "list %d not ascending", k);
            seen[j]++;
        }
    for (int j = 0; j < n; j++) cr_assert_eq(seen[j], 1, "bag %d appears %d times", j, seen[j]);
    free(seen);
}

static int same_list(const lt_index_list *a, const lt_index_list *b) {
    return a->n == b->n && memcmp(a->idx, b->idx, sizeof *a->idx * (size_t)a->n) == 0;
}

Test(mil_split, stratified_counts_and_seed_determinism) {
    lt_mil_dataset *ds = two_class(40, 20, NULL);
    lt_index_list tr, va, te, tr2, va2, te2;
    cr_assert_eq(lt_mil_split(ds, 5, 0.2f, 0.25f, 0, 0, &tr, &va, &te), LT_OK, "%s", lt_last_error());
    assert_partition(ds, &tr, &va, &te);
    // per class: test round(0.25 n_c), val round(0.2 n_c)
    cr_assert_eq(count_label(ds, &te, 0), 10);
    cr_assert_eq(count_label(ds, &te, 1), 5);
    cr_assert_eq(count_label(ds, &va, 0), 8);
    cr_assert_eq(count_label(ds, &va, 1), 4);
    cr_assert_eq(tr.n, 33);
    cr_assert_eq(lt_mil_split(ds, 5, 0.2f, 0.25f, 0, 0, &tr2, &va2, &te2), LT_OK);
    cr_assert(same_list(&tr, &tr2) && same_list(&va, &va2) && same_list(&te, &te2), "same seed, different split");
    lt_index_list_free(&tr2); lt_index_list_free(&va2); lt_index_list_free(&te2);
    cr_assert_eq(lt_mil_split(ds, 6, 0.2f, 0.25f, 0, 0, &tr2, &va2, &te2), LT_OK);
    cr_assert(!same_list(&te, &te2), "seeds 5 and 6 gave the same test set");
    cr_assert_eq(count_label(ds, &te2, 1), 5);
    lt_index_list_free(&tr2); lt_index_list_free(&va2); lt_index_list_free(&te2);
    // no val, no test: everything trains
    cr_assert_eq(lt_mil_split(ds, 5, 0, 0, 0, 0, &tr2, &va2, &te2), LT_OK);
    cr_assert_eq(tr2.n, 60);
    cr_assert_eq(va2.n + te2.n, 0);
    lt_index_list_free(&tr2); lt_index_list_free(&va2); lt_index_list_free(&te2);
    lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    lt_index_list_free(&tr);   // twice is harmless
    lt_mil_close(ds);
}

Test(mil_split, k_fold_covers_every_bag_once) {
    lt_mil_dataset *ds = two_class(40, 20, NULL);
    int k = 5, *tested = calloc(60, sizeof *tested);
    for (int f = 0; f < k; f++) {
        lt_index_list tr, va, te;
        cr_assert_eq(lt_mil_split(ds, 9, 0.25f, 0.9f /* ignored with folds */, k, f, &tr, &va, &te), LT_OK, "%s",
                     lt_last_error());
        assert_partition(ds, &tr, &va, &te);
        cr_assert_eq(count_label(ds, &te, 0), 8, "fold %d", f);
        cr_assert_eq(count_label(ds, &te, 1), 4, "fold %d", f);
        cr_assert_eq(count_label(ds, &va, 0), 8, "fold %d", f);   // round(0.25 * 32)
        cr_assert_eq(count_label(ds, &va, 1), 4, "fold %d", f);   // round(0.25 * 16)
        for (int i = 0; i < te.n; i++) tested[te.idx[i]]++;
        lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    }
    for (int i = 0; i < 60; i++) cr_assert_eq(tested[i], 1, "bag %d is in %d test folds", i, tested[i]);
    free(tested);
    // uneven: 7 bags in 3 folds
    lt_mil_close(ds);
    ds = two_class(4, 3, NULL);
    int sizes = 0;
    for (int f = 0; f < 3; f++) {
        lt_index_list tr, va, te;
        cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 3, f, &tr, &va, &te), LT_OK);
        cr_assert(te.n == 2 || te.n == 3, "fold %d has %d", f, te.n);
        sizes += te.n;
        lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    }
    cr_assert_eq(sizes, 7);
    lt_mil_close(ds);
}

Test(mil_split, carried_splits) {
    lt_mil_split_kind sp[6] = {LT_SPLIT_TRAIN, LT_SPLIT_TEST, LT_SPLIT_TRAIN,
                               LT_SPLIT_VAL,   LT_SPLIT_TRAIN, LT_SPLIT_TEST};
    lt_mil_dataset *ds = two_class(4, 2, sp);
    lt_index_list tr, va, te;
    cr_assert_eq(lt_mil_split(ds, 1, 0.5f, 0.3f, 0, 0, &tr, &va, &te), LT_OK, "%s", lt_last_error());
    cr_assert(tr.n == 3 && tr.idx[0] == 0 && tr.idx[1] == 2 && tr.idx[2] == 4);
    cr_assert(va.n == 1 && va.idx[0] == 3);
    cr_assert(te.n == 2 && te.idx[0] == 1 && te.idx[1] == 5);
    lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    // k-fold ignores carried splits
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 2, 0, &tr, &va, &te), LT_OK);
    cr_assert_eq(te.n, 3);
    lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    lt_mil_close(ds);

    // from a CSV split column
    const char *dir = tp("c");
    mkdir_p(dir);
    for (int i = 0; i < 4; i++) {
        char id[8];
        snprintf(id, sizeof id, "s%d", i);
        write_clam(dir, id, i, 2, 3, clam_default());
    }
    write_text(tp("c.csv"), "slide_id,label,split\ns0,0,test\ns1,1,train\ns2,0,train\ns3,1,val\n");
    ds = open_ok(dir, tp("c.csv"), LT_MIL_AUTO);
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 0, 0, &tr, &va, &te), LT_OK, "%s", lt_last_error());
    cr_assert(tr.n == 2 && tr.idx[0] == 1 && tr.idx[1] == 2);
    cr_assert(va.n == 1 && va.idx[0] == 3 && te.n == 1 && te.idx[0] == 0);
    lt_index_list_free(&tr); lt_index_list_free(&va); lt_index_list_free(&te);
    lt_mil_close(ds);
    // a slide without a split while others have one
    write_text(tp("c.csv"), "slide_id,label,split\ns0,0,test\ns1,1,\ns2,0,train\ns3,1,val\n");
    ds = open_ok(dir, tp("c.csv"), LT_MIL_AUTO);
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 0, 0, &tr, &va, &te), LT_ERR_FORMAT);
    cr_assert(strstr(lt_last_error(), "slide 's1'") && strstr(lt_last_error(), "c.csv"), "%s", lt_last_error());
    cr_assert_null(tr.idx);
    lt_mil_close(ds);
}

Test(mil_split, bad_arguments) {
    lt_mil_dataset *ds = two_class(4, 2, NULL);
    lt_index_list tr, va, te;
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 1, 0, &tr, &va, &te), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "k_folds = 1"));
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 7, 0, &tr, &va, &te), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "7 folds but only 6 bags"));
    cr_assert_eq(lt_mil_split(ds, 1, 0, 0, 3, 3, &tr, &va, &te), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "fold 3 out of range 0..2"));
    cr_assert_eq(lt_mil_split(ds, 1, 0.6f, 0.4f, 0, 0, &tr, &va, &te), LT_ERR_ARG);
    cr_assert_eq(lt_mil_split(ds, 1, -0.1f, 0, 0, 0, &tr, &va, &te), LT_ERR_ARG);
    cr_assert_eq(lt_mil_split(ds, 1, NAN, 0, 0, 0, &tr, &va, &te), LT_ERR_ARG);
    cr_assert_eq(lt_mil_split(ds, 1, 0.45f, 0.45f, 0, 0, &tr, &va, &te), LT_ERR_ARG);   // rounds to nothing left
    cr_assert(strstr(lt_last_error(), "no bags left for training"), "%s", lt_last_error());
    cr_assert_null(tr.idx);
    lt_mil_close(ds);
}

// ---- loader ----

static void expect_item(lt_mil_dataset *ds, const lt_mil_item *it, int bag) {
    const lt_mil_bag_info *b = lt_mil_bag(ds, bag);
    cr_assert_eq(it->bag, bag);
    cr_assert_eq(it->n, b->n);
    cr_assert_eq(it->dim, lt_mil_dim(ds));
    cr_assert_eq(it->label, b->label);
    float *want = make_feat(100 + bag, b->n, it->dim);   // write_packed's seeds
    int32_t *wc = make_coords(100 + bag, b->n);
    cr_assert_eq(memcmp(it->feat, want, sizeof *want * (size_t)(b->n * it->dim)), 0, "bag %d features", bag);
    cr_assert_eq(memcmp(it->coords, wc, sizeof *wc * 2 * (size_t)b->n), 0, "bag %d coords", bag);
    free(want);
    free(wc);
}

Test(mil_loader, returns_bags_in_order, .timeout = 20) {
    lt_mil_dataset *ds = two_class(10, 5, NULL);
    int32_t order[20] = {3, 14, 0, 0, 7, 2, 9, 11, 1, 5, 6, 13, 12, 4, 8, 10, 3, 3, 14, 0};
    for (int depth = 1; depth <= 4; depth += 3) {
        lt_mil_loader *ld;
        cr_assert_eq(lt_mil_loader_open(ds, order, 20, depth, 1.0f, 0, &ld), LT_OK, "%s", lt_last_error());
        lt_mil_item it;
        int has;
        for (int p = 0; p < 20; p++) {
            cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK, "%s", lt_last_error());
            cr_assert(has);
            expect_item(ds, &it, order[p]);
        }
        for (int k = 0; k < 2; k++) {
            cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK);
            cr_assert_eq(has, 0);
        }
        lt_mil_loader_close(ld);
    }
    // an empty order
    lt_mil_loader *ld;
    cr_assert_eq(lt_mil_loader_open(ds, NULL, 0, 2, 1.0f, 0, &ld), LT_OK);
    lt_mil_item it;
    int has = 1;
    cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK);
    cr_assert_eq(has, 0);
    lt_mil_loader_close(ld);
    lt_mil_close(ds);
}

// Each kept row is a distinct row of the bag, in file order; coords identify rows
// (make_coords: x = seed * 1000 + row).
static void expect_subset(lt_mil_dataset *ds, const lt_mil_item *it, int bag, int64_t want_n) {
    const lt_mil_bag_info *b = lt_mil_bag(ds, bag);
    cr_assert_eq(it->n, want_n, "bag %d of %lld: kept %lld, want %lld", bag, (long long)b->n, (long long)it->n,
                 (long long)want_n);
    int64_t prev = -1;
    for (int64_t r = 0; r < it->n; r++) {
        int64_t row = it->coords[2 * r] - (100 + bag) * 1000;
        cr_assert(row > prev && row < b->n, "bag %d row %lld -> source row %lld", bag, (long long)r, (long long)row);
        cr_assert_eq(it->coords[2 * r + 1], 7 * row);
        for (int c = 0; c < it->dim; c++) cr_assert_eq(it->feat[r * it->dim + c], fval(100 + bag, row, c));
        prev = row;
    }
}

Test(mil_loader, subsampling_sizes_and_reproducibility, .timeout = 20) {
    // bags of 1..4 rows are too small to tell subsets apart; use bigger ones
    int64_t rows[6] = {7, 1, 10, 9, 40, 3};
    int labels[6] = {0, 1, 0, 1, 0, 1};
    write_packed(tp("sub.h5"), 6, rows, labels, NULL, 4, 2, NULL, 0);
    lt_mil_dataset *ds = open_ok(tp("sub.h5"), NULL, LT_MIL_PACKED);
    int32_t order[8] = {0, 1, 2, 3, 4, 5, 4, 4};
    float rs[3] = {0.5f, 0.7f, 0.01f};
    int64_t want[3][6] = {{3, 1, 5, 4, 20, 1}, {4, 1, 7, 6, 28, 2}, {1, 1, 1, 1, 1, 1}};
    for (int t = 0; t < 3; t++) {
        int32_t got[2][8][40];
        for (int rep = 0; rep < 2; rep++) {
            lt_mil_loader *ld;
            cr_assert_eq(lt_mil_loader_open(ds, order, 8, 2, rs[t], 77, &ld), LT_OK, "%s", lt_last_error());
            for (int p = 0; p < 8; p++) {
                lt_mil_item it;
                int has;
                cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK, "%s", lt_last_error());
                cr_assert(has);
                cr_assert_eq(it.bag, order[p]);
                expect_subset(ds, &it, order[p], want[t][order[p]]);
                for (int64_t r = 0; r < it.n; r++) got[rep][p][r] = it.coords[2 * r];
            }
            lt_mil_loader_close(ld);
        }
        for (int p = 0; p < 8; p++)
            cr_assert_eq(memcmp(got[0][p], got[1][p], sizeof(int32_t) * (size_t)want[t][order[p]]), 0,
                         "r = %g: position %d differs between runs with the same seed", rs[t], p);
        if (t == 0)   // bag 4 at positions 4, 6, 7: each position draws its own subset
            cr_assert(memcmp(got[0][4], got[0][6], sizeof(int32_t) * 20) != 0 ||
                      memcmp(got[0][6], got[0][7], sizeof(int32_t) * 20) != 0);
    }
    // another seed, another subset
    lt_mil_loader *a, *b;
    cr_assert_eq(lt_mil_loader_open(ds, order + 4, 1, 1, 0.5f, 1, &a), LT_OK);
    cr_assert_eq(lt_mil_loader_open(ds, order + 4, 1, 1, 0.5f, 2, &b), LT_OK);
    lt_mil_item ia, ib;
    int has;
    cr_assert_eq(lt_mil_loader_next(a, &ia, &has), LT_OK);
    cr_assert_eq(lt_mil_loader_next(b, &ib, &has), LT_OK);   // two loaders at once
    cr_assert_neq(memcmp(ia.coords, ib.coords, sizeof(int32_t) * 40), 0);
    lt_mil_loader_close(a);
    lt_mil_loader_close(b);
    lt_mil_close(ds);
}

Test(mil_loader, errors_from_the_reader_thread, .timeout = 20) {
    const char *dir = tp("f");
    mkdir_p(dir);
    clam_opts o = clam_default();
    write_clam(dir, "a", 1, 3, 4, o);
    write_clam(dir, "b", 2, 5, 4, o);
    o.nan_row = 4;
    write_clam(dir, "bad", 3, 6, 4, o);
    write_clam(dir, "gone", 4, 2, 4, clam_default());
    write_text(tp("s.csv"), "slide_id,label\na,0\nb,1\nbad,1\ngone,0\n");
    lt_mil_dataset *ds = open_ok(dir, tp("s.csv"), LT_MIL_AUTO);
    int32_t order[5] = {0, 1, 2, 0, 1};
    lt_mil_loader *ld;
    cr_assert_eq(lt_mil_loader_open(ds, order, 5, 3, 1.0f, 0, &ld), LT_OK);
    lt_mil_item it;
    int has;
    for (int p = 0; p < 2; p++) {
        cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK, "%s", lt_last_error());
        cr_assert(has && it.bag == order[p]);
    }
    for (int k = 0; k < 2; k++) {   // the error stays
        cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_ERR_NONFINITE);
        cr_assert_eq(has, 0);
        const char *m = lt_last_error();
        cr_assert(strstr(m, "slide 'bad'") && strstr(m, "f/bad.h5") && strstr(m, "[4, 0] is NaN"), "%s", m);
    }
    lt_mil_loader_close(ld);
    // a file removed after open
    cr_assert_eq(remove(tp("f/gone.h5")), 0);
    int32_t order2[2] = {1, 3};
    cr_assert_eq(lt_mil_loader_open(ds, order2, 2, 1, 0.5f, 0, &ld), LT_OK);
    cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK);
    cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_ERR_IO);
    cr_assert(strstr(lt_last_error(), "slide 'gone'") && strstr(lt_last_error(), "f/gone.h5"), "%s", lt_last_error());
    lt_mil_loader_close(ld);
    lt_mil_close(ds);
}

Test(mil_loader, close_mid_epoch, .timeout = 20) {
    int64_t rows[3] = {300, 200, 100};
    int labels[3] = {0, 1, 0};
    write_packed(tp("c.h5"), 3, rows, labels, NULL, 64, 2, NULL, 0);
    lt_mil_dataset *ds = open_ok(tp("c.h5"), NULL, LT_MIL_PACKED);
    int n = 3000;
    int32_t *order = malloc(sizeof *order * (size_t)n);
    for (int i = 0; i < n; i++) order[i] = i % 3;
    for (int stop_after = 0; stop_after < 40; stop_after += 13) {
        lt_mil_loader *ld;
        cr_assert_eq(lt_mil_loader_open(ds, order, n, 4, 0.5f, 3, &ld), LT_OK);
        for (int p = 0; p < stop_after; p++) {
            lt_mil_item it;
            int has;
            cr_assert_eq(lt_mil_loader_next(ld, &it, &has), LT_OK);
            cr_assert(has && it.bag == order[p] && it.n == rows[order[p]] / 2);
        }
        lt_mil_loader_close(ld);   // the reader thread is blocked on a full queue, or reading
    }
    // closing while the thread is still filling the queue, right after open
    for (int k = 0; k < 20; k++) {
        lt_mil_loader *ld;
        cr_assert_eq(lt_mil_loader_open(ds, order, n, 2, 1.0f, 3, &ld), LT_OK);
        lt_mil_loader_close(ld);
    }
    lt_mil_loader_close(NULL);
    // the dataset is still usable afterwards
    float *x = malloc(sizeof *x * 300 * 64);
    cr_assert_eq(lt_mil_read(ds, 0, x, NULL), LT_OK, "%s", lt_last_error());
    free(x);
    free(order);
    lt_mil_close(ds);
}

Test(mil_loader, bad_arguments) {
    lt_mil_dataset *ds = two_class(2, 1, NULL);
    lt_mil_loader *ld = (lt_mil_loader *)1;
    int32_t order[2] = {0, 3};
    cr_assert_eq(lt_mil_loader_open(ds, order, 2, 2, 1.0f, 0, &ld), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "order[1] = 3"), "%s", lt_last_error());
    cr_assert_null(ld);
    order[1] = 1;
    cr_assert_eq(lt_mil_loader_open(ds, order, 2, 0, 1.0f, 0, &ld), LT_ERR_ARG);
    cr_assert_eq(lt_mil_loader_open(ds, order, 2, 1, 0.0f, 0, &ld), LT_ERR_ARG);
    cr_assert_eq(lt_mil_loader_open(ds, order, 2, 1, 1.5f, 0, &ld), LT_ERR_ARG);
    cr_assert_eq(lt_mil_loader_open(ds, order, 2, 1, NAN, 0, &ld), LT_ERR_ARG);
    cr_assert(strstr(lt_last_error(), "subsample"));
    cr_assert_eq(lt_mil_loader_open(ds, NULL, 2, 1, 1.0f, 0, &ld), LT_ERR_ARG);
    lt_mil_close(ds);
}
