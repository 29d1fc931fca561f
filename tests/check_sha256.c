/*
 * check_sha256.c - sha256.c against the FIPS 180-2 appendix B vectors ("abc",
 * the 448-bit and 896-bit messages, one million 'a'), the empty message,
 * and the padding boundaries 55/56/63/64/65 bytes (values from coreutils
 * sha256sum).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/nncc.h"
#include "testutil.h"

static void expect_hex(const void *data, size_t len, const char *want)
{
	char hex[65];
	memset(hex, 'x', sizeof hex);
	nncc_sha256_hex(data, len, hex);
	ck_assert_str_eq(hex, want);
}

START_TEST(fips_abc)
{
	expect_hex("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(empty_message)
{
	expect_hex("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
END_TEST

START_TEST(fips_448_bits)
{
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	ck_assert_uint_eq(strlen(m) * 8, 448);
	expect_hex(m, strlen(m),
	           "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(fips_896_bits)
{
	const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmn"
	                "hijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
	ck_assert_uint_eq(strlen(m) * 8, 896);
	expect_hex(m, strlen(m),
	           "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}
END_TEST

START_TEST(fips_million_a)
{
	size_t n = 1000000;
	char *m = malloc(n);
	ck_assert_ptr_nonnull(m);
	memset(m, 'a', n);
	expect_hex(m, n, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}
END_TEST

/* 55 bytes: padding fits one block; 56: the length spills into a second. */
START_TEST(padding_boundaries)
{
	static const struct {
		size_t len;
		const char *hex;
	} v[] = {
		{55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
		{56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
		{63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"},
		{64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
		{65, "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0"},
	};
	char a[65];
	memset(a, 'a', sizeof a);
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		expect_hex(a, v[i].len, v[i].hex);
}
END_TEST

START_TEST(binary_matches_hex)
{
	uint8_t d[32];
	char hex[65], again[65];
	nncc_sha256("abc", 3, d);
	nncc_sha256_hex("abc", 3, hex);
	for (int i = 0; i < 32; i++)
		snprintf(again + 2 * i, 3, "%02x", d[i]);
	ck_assert_str_eq(hex, again);
	ck_assert_uint_eq(d[0], 0xba);
	ck_assert_uint_eq(d[31], 0xad);
}
END_TEST

static Suite *sha256_suite(void)
{
	Suite *s = suite_create("sha256");
	TCase *tc = tcase_create("vectors");
	tcase_add_test(tc, fips_abc);
	tcase_add_test(tc, empty_message);
	tcase_add_test(tc, fips_448_bits);
	tcase_add_test(tc, fips_896_bits);
	tcase_add_test(tc, fips_million_a);
	tcase_add_test(tc, padding_boundaries);
	tcase_add_test(tc, binary_matches_hex);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_suite_main(sha256_suite(), NULL);
}
