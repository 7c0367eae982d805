// The portal's setup in miniature: an App Router app that renders <DepthAvatar> from server components.
/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
};
export default nextConfig;
