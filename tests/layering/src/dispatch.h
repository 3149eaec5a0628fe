/* dispatch.h - a server header. */
