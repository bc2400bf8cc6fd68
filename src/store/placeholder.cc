// Removed once the store has sources of its own.
namespace hakone::store {
int kStorePlaceholder = 0;
}
