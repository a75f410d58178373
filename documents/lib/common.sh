# shellcheck shell=bash
# Shared by register-linux.sh and deregister-linux.sh: the build puts this text in place of
# each script's line "# @include lib/common.sh" (documents/index.ts joinScript). It is never run
# on its own; shellcheck checks it inside each joined script.

# The hybrid agent may write the central account's credentials into root's shared credentials
# file. Every AWS CLI call here must act as the instance's own role, so the file is ignored and
# the CLI falls through to the instance profile.
export AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
