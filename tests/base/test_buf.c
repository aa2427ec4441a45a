/*
 * test_buf — the bounds-checked reader and writer (R-10 parsing).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "base/buf.h"
#include "base/err.h"

static const uint8_t sample[] = {
	0x00, 0x00, 0x00, 0x05, 'h', 'e', 'l', 'l', 'o',	/* string */
	0xde, 0xad, 0xbe, 0xef,					/* u32 */
	0x07,							/* u8 */
};

START_TEST(buf_reads_exact_input_and_ends_clean)
{
	struct buf_reader r;
	const uint8_t *p;
	size_t n;
	uint32_t v;
	uint8_t b;

	buf_reader_init(&r, sample, sizeof(sample));
	ck_assert_int_eq(buf_get_string_direct(&r, 64, &p, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_mem_eq(p, "hello", 5);
	ck_assert_int_eq(buf_get_u32(&r, &v), 0);
	ck_assert_uint_eq(v, 0xdeadbeef);
	ck_assert_int_eq(buf_get_u8(&r, &b), 0);
	ck_assert_uint_eq(b, 7);
	ck_assert_int_eq(buf_end(&r), 0);
	ck_assert_int_eq(buf_get_u8(&r, &b), ERR_TRUNCATED);
}
END_TEST

START_TEST(buf_get_u32_short_input_is_truncated_and_cursor_unmoved)
{
	struct buf_reader r;
	uint32_t v = 42;

	buf_reader_init(&r, sample, 3);
	ck_assert_int_eq(buf_get_u32(&r, &v), ERR_TRUNCATED);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_eq(buf_remaining(&r), 3);
}
END_TEST

START_TEST(buf_string_length_past_end_is_truncated)
{
	static const uint8_t in[] = { 0, 0, 0, 9, 'a', 'b' };
	struct buf_reader r;
	const uint8_t *p;
	size_t n;

	buf_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(buf_get_string_direct(&r, 64, &p, &n),
	    ERR_TRUNCATED);
	ck_assert_uint_eq(buf_remaining(&r), sizeof(in));
}
END_TEST

START_TEST(buf_string_over_max_is_too_large)
{
	static const uint8_t in[] = { 0xff, 0xff, 0xff, 0xff, 'a' };
	struct buf_reader r;
	const uint8_t *p;
	size_t n;

	buf_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(buf_get_string_direct(&r, 1024, &p, &n),
	    ERR_TOO_LARGE);
	ck_assert_uint_eq(buf_remaining(&r), sizeof(in));
}
END_TEST

START_TEST(buf_trailing_byte_is_format_error)
{
	struct buf_reader r;
	const uint8_t *p;
	size_t n;

	buf_reader_init(&r, sample, 10);
	ck_assert_int_eq(buf_get_string_direct(&r, 64, &p, &n), 0);
	ck_assert_int_eq(buf_end(&r), ERR_FORMAT);
}
END_TEST

START_TEST(buf_cstring_rejects_embedded_nul)
{
	static const uint8_t in[] = { 0, 0, 0, 3, 'a', 0, 'b' };
	struct buf_reader r;
	char *s = NULL;

	buf_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(buf_get_cstring(&r, 64, &s), ERR_FORMAT);
	ck_assert_ptr_null(s);
	ck_assert_uint_eq(buf_remaining(&r), sizeof(in));
}
END_TEST

START_TEST(buf_expect_checks_magic)
{
	struct buf_reader r;

	buf_reader_init(&r, "SSHSIGxx", 8);
	ck_assert_int_eq(buf_expect(&r, "SSHSIH", 6), ERR_FORMAT);
	ck_assert_int_eq(buf_expect(&r, "SSHSIG", 6), 0);
	ck_assert_uint_eq(buf_remaining(&r), 2);
	ck_assert_int_eq(buf_expect(&r, "xyz", 3), ERR_TRUNCATED);
}
END_TEST

START_TEST(buf_nested_reader_is_bounded_by_its_string)
{
	static const uint8_t in[] = { 0, 0, 0, 2, 0xaa, 0xbb, 0xcc };
	struct buf_reader r, sub;
	uint32_t v;
	uint8_t b;

	buf_reader_init(&r, in, sizeof(in));
	ck_assert_int_eq(buf_get_string_reader(&r, 64, &sub), 0);
	ck_assert_int_eq(buf_get_u32(&sub, &v), ERR_TRUNCATED);
	ck_assert_int_eq(buf_get_u8(&sub, &b), 0);
	ck_assert_int_eq(buf_get_u8(&sub, &b), 0);
	ck_assert_uint_eq(b, 0xbb);
	ck_assert_int_eq(buf_end(&sub), 0);
	ck_assert_int_eq(buf_get_u8(&r, &b), 0);
	ck_assert_uint_eq(b, 0xcc);
}
END_TEST

START_TEST(buf_writer_round_trips_and_respects_max)
{
	struct buf_writer w;
	struct buf_reader r;
	uint8_t *out = NULL;
	size_t len;
	char *s = NULL;
	uint64_t v;

	buf_writer_init(&w, 20);
	ck_assert_int_eq(buf_put_cstring(&w, "abc"), 0);
	ck_assert_int_eq(buf_put_u64(&w, 0x0102030405060708ULL), 0);
	/* 7 + 8 = 15 used; a 6-byte string needs 10 more. */
	ck_assert_int_eq(buf_put_cstring(&w, "abcdef"), ERR_TOO_LARGE);
	ck_assert_uint_eq(w.len, 15);
	ck_assert_int_eq(buf_writer_steal(&w, &out, &len), 0);
	buf_reader_init(&r, out, len);
	ck_assert_int_eq(buf_get_cstring(&r, 10, &s), 0);
	ck_assert_str_eq(s, "abc");
	ck_assert_int_eq(buf_get_u64(&r, &v), 0);
	ck_assert(v == 0x0102030405060708ULL);
	ck_assert_int_eq(buf_end(&r), 0);
	free(s);
	free(out);
	buf_writer_reset(&w);
}
END_TEST

/* Random garbage never crashes the reader nor reads out of bounds. */
START_TEST(buf_random_input_never_overreads)
{
	uint8_t data[64];
	unsigned seed = 12345;
	int i;

	for (i = 0; i < 20000; i++) {
		struct buf_reader r, sub;
		size_t len = (size_t)(rand_r(&seed) % (int)sizeof(data)), k;
		uint8_t *copy;

		for (k = 0; k < len; k++)
			data[k] = (uint8_t)rand_r(&seed);
		/* An exact-size heap copy lets ASan catch any overread. */
		copy = malloc(len == 0 ? 1 : len);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, data, len);
		buf_reader_init(&r, copy, len);
		while (buf_remaining(&r) > 0) {
			const uint8_t *p;
			size_t n;
			char *s = NULL;
			uint32_t v;

			switch (rand_r(&seed) % 4) {
			case 0:
				if (buf_get_u32(&r, &v) != 0)
					(void) buf_skip(&r, 1);
				break;
			case 1:
				if (buf_get_string_direct(&r, 32, &p, &n) != 0)
					(void) buf_skip(&r, 1);
				break;
			case 2:
				if (buf_get_cstring(&r, 32, &s) != 0)
					(void) buf_skip(&r, 1);
				free(s);
				break;
			default:
				if (buf_get_string_reader(&r, 32, &sub) != 0)
					(void) buf_skip(&r, 1);
				break;
			}
		}
		free(copy);
	}
}
END_TEST

static Suite *
buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("reader");

	tcase_add_test(tc, buf_reads_exact_input_and_ends_clean);
	tcase_add_test(tc, buf_get_u32_short_input_is_truncated_and_cursor_unmoved);
	tcase_add_test(tc, buf_string_length_past_end_is_truncated);
	tcase_add_test(tc, buf_string_over_max_is_too_large);
	tcase_add_test(tc, buf_trailing_byte_is_format_error);
	tcase_add_test(tc, buf_cstring_rejects_embedded_nul);
	tcase_add_test(tc, buf_expect_checks_magic);
	tcase_add_test(tc, buf_nested_reader_is_bounded_by_its_string);
	tcase_add_test(tc, buf_writer_round_trips_and_respects_max);
	tcase_add_test(tc, buf_random_input_never_overreads);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(buf_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
