// Removed once the gateway has sources of its own.
namespace hakone::gateway {
int kGatewayPlaceholder = 0;
}
