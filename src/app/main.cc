#include <cstdio>
int main() { std::puts("hakone"); return 0; }
