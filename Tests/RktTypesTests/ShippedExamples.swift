// Verbatim copies of the examples shipped in Debian's appc-spec package
// (/usr/share/doc/appc-spec/examples), so the tests do not depend on that package.

let shippedImageExample = #"""
{
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/reduce-worker",
    "labels": [
        {
            "name": "version",
            "value": "1.0.0"
        },
        {
            "name": "arch",
            "value": "amd64"
        },
        {
            "name": "os",
            "value": "linux"
        }
    ],
    "app": {
        "exec": [
            "/usr/bin/reduce-worker",
            "--quiet"
        ],
        "user": "100",
        "group": "300",
        "eventHandlers": [
            {
                "exec": [
                    "/usr/bin/data-downloader"
                ],
                "name": "pre-start"
            },
            {
                "exec": [
                    "/usr/bin/deregister-worker",
                    "--verbose"
                ],
                "name": "post-stop"
            }
        ],
        "environment": [
            {
                "name": "REDUCE_WORKER_DEBUG",
                "value": "true"
            }
        ],
        "isolators": [
            {
                "name": "resource/cpu",
                "value": {"limit": "20m"}
            },
            {
                "name": "resource/memory",
                "value": {"limit": "1G"}
            },
            {
                "name": "os/linux/capabilities-retain-set",
                "value": {"set": ["CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE"]}
            },
            {
                "name": "os/linux/no-new-privileges",
                "value": true
            },
            {
                "name": "os/linux/seccomp-remove-set",
                "value": {
                    "errno": "EACCESS",
                    "set": [
                        "clock_settime",
                        "clock_adjtime",
                        "reboot"
                    ]
                }
            }
        ],
        "mountPoints": [
            {
                "name": "database",
                "path": "/var/lib/db",
                "readOnly": false
            }
        ],
        "ports": [
            {
                "name": "health",
                "port": 4000,
                "protocol": "tcp",
                "socketActivated": true
            }
        ]
    },
    "dependencies": [
        {
            "imageName": "example.com/reduce-worker-base",
            "imageID": "sha512-...",
            "labels": [
                {
                    "name": "os",
                    "value": "linux"
                },
                {
                    "name": "env",
                    "value": "canary"
                }
            ]
        }
    ],
    "pathWhitelist": [
        "/etc/ca/example.com/crt",
        "/usr/bin/map-reduce-worker",
        "/opt/libs/reduce-toolkit.so",
        "/etc/reduce-worker.conf",
        "/etc/systemd/system/"
    ],
    "annotations": [
        {
            "name": "authors",
            "value": "Carly Container <carly@example.com>, Nat Network <[nat@example.com](mailto:nat@example.com)>"
        },
        {
            "name": "created",
            "value": "2014-10-27T19:32:27.67021798Z"
        },
        {
            "name": "documentation",
            "value": "https://example.com/docs"
        },
        {
            "name": "homepage",
            "value": "https://example.com"
        },
        {
            "name": "appc.io/executor/supports-systemd-notify",
            "value": "false"
        }
    ]
}
"""#

let shippedPodRuntimeExample = #"""
{
    "acKind": "PodManifest",
    "acVersion": "0.8.11",
    "apps": [
        {
            "name": "reduce-worker",
            "image": {
                "name": "example.com/reduce-worker",
                "id": "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990"
            },
            "app": {
                "exec": [
                    "/usr/bin/reduce-worker",
                    "--debug=true",
                    "--data-dir=/mnt/foo"
                ],
                "group": "0",
                "user": "0",
                "mountPoints": [
                    {
                        "name": "database",
                        "path": "/var/lib/db"
                    }
                ],
                "isolators": [
                    {
                        "name": "resource/memory",
                        "value": {"limit": "1G"}
                    }
                ]
            },
            "mounts": [
                {
                    "volume": "dbvolume",
                    "path": "/var/lib/db"
                }
            ]
        },
        {
            "name": "backup",
            "image": {
                "name": "example.com/worker-backup",
                "id": "sha512-d603c29df0214c9b6681ed591871d40cc4bfabf9914383ce95ada0f2333defa7e97e21ca347e1d8dfde0b3edfe703688729cd25cec895a9a5b5c856da2f031fe",
                "labels": [
                    {
                        "name": "version",
                        "value": "latest"
                    }
                ]
            },
            "mounts": [
                {
                    "volume": "dbvolume",
                    "path": "/mnt/db"
                },
                {
                    "volume": "buildoutput",
                    "path": "/mnt/out"
                }
            ],
            "annotations": [
                {
                    "name": "foo",
                    "value": "baz"
                }
            ]
        },
        {
            "name": "register",
            "image": {
                "name": "example.com/reduce-worker-register",
                "id": "sha512-57007df523db8aa55e11260aaaab5e8242eb7a2a431196da7ba8204c4aacc6215db289242d17e5a5e45cb0cd0c2e22c7be9c77b61401a8f7e3eba66c2e6e42eb",
                "labels": [
                    {
                        "name":  "version",
                        "value": "3.0.0"
                    }
                ]
            }
        }
    ],
    "volumes": [
        {
            "name": "dbvolume",
            "kind": "host",
            "source": "/opt/tenant1/database",
            "readOnly": true
        },
        {
            "name": "buildoutput",
            "kind": "empty",
            "mode": "0777",
            "uid": 0,
            "gid": 0
        }
    ],
    "isolators": [
        {
            "name": "resource/memory",
            "value": {"limit": "4G"}
        },
        {
            "name": "os/unix/sysctl",
            "value": {
                "net.ipv4.tcp_fin_timeout": "6"
            }
        }
    ],
    "annotations": [
        {
            "name": "ip-address",
            "value": "10.1.2.3"
        }
    ]
}
"""#

let shippedPodTemplateExample = #"""
{
    "acVersion": "0.3.0",
    "acKind": "PodManifest",
    "apps": [
        {
            "name": "reduce-worker",
            "image": {
                "name": "example.com/reduce-worker",
                "id": "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990"
            }
        },
        {
            "name": "backup",
            "image": {
                "name": "example.com/worker-backup",
                "labels": [
                    {
                        "name": "version",
                        "value": "latest"
                    }
                ]
            }
        },
        {
            "name": "register",
            "image": {
                "name": "example.com/reduce-worker-register",
                "labels": [
                    {
                        "name": "version",
                        "value": "3.0.0"
                    }
                ]
            }
        }
    ],
    "isolators": [
        {
            "name": "resource/memory",
            "value": {"limit": "4G"}
        }
    ]
}
"""#
