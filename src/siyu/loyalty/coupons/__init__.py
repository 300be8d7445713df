"""Coupons (优惠券): templates, one unique code per coupon, issued by rules, campaigns, points
exchange and tier benefits, redeemed once by a till or the mini-program."""
