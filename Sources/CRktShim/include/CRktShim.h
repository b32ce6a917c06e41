// Umbrella header: one header per concern, each saying why it exists.
#include "rkt_fs.h"
#include "rkt_netns.h"
#include "rkt_spawn.h"
#include "rkt_xattr.h"
