/* test_index.c — conformance tests of the index ops. Being written: until the
 * family lands this program reports SKIP (exit 77). */
int main(void) { return 77; }
